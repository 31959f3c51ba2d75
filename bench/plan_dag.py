"""The graph issue's benchmark: 10,000 targets where 2,000 generated masters
each feed 4 derived variants; ``plan`` when everything is up to date."""

from __future__ import annotations

from bench.common import fresh_folder, imagebuild, repeat, report, settle

MASTERS = 2000

MANIFEST = """\
version: 1
defaults:
  model: local
  width: 16
  height: 16
targets:
  - name: "master-{{{{ n }}}}"
    matrix:
      n: [{numbers}]
    prompt: "master image {{{{ n }}}}"
    output: "out/{{{{ n }}}}/master.png"
  - name: "variant-{{{{ n }}}}-{{{{ size.name }}}}"
    matrix:
      n: [{numbers}]
      size:
        - {{name: a, w: 8, h: 8}}
        - {{name: b, w: 12, h: 6}}
        - {{name: c, w: 6, h: 12}}
        - {{name: d, w: 10, h: 10}}
    from: "master-{{{{ n }}}}"
    transform:
      - resize: {{width: "{{{{ size.w }}}}", height: "{{{{ size.h }}}}", fit: cover}}
    output: "out/{{{{ n }}}}/{{{{ size.name }}}}.png"
"""


def main() -> None:
    folder = fresh_folder("plan_dag")
    numbers = ", ".join(str(n) for n in range(MASTERS))
    (folder / "imagebuild.yaml").write_text(MANIFEST.format(numbers=numbers))
    first = imagebuild(folder, "build", "-j", "8")
    settle()
    print(
        f"{MASTERS} masters x 4 derived variants = 10,000 targets; first full build {first:.1f} s"
    )
    best, median = repeat(5, lambda: imagebuild(folder, "plan"))
    report("plan, everything up to date (new process each)", best, median, goal=0.5)
