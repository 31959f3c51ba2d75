"""Files that two writers would fight over, found before anything is built.

Two targets writing one file overwrite each other on every build, so neither
is ever up to date; an output written over an input destroys a file the
user made. Paths are compared as the file system will see them: normalised
(``./out//a.png`` is ``out/a.png``) and case-folded, because macOS and
Windows file systems do not tell ``A.png`` from ``a.png``. imagebuild's own
state under ``.imagebuild/`` is never an output.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagebuild.errors import ManifestError, collected
from imagebuild.manifest.expand import Manifest
from imagebuild.targets import Target

STATE_FOLDER = ".imagebuild"


@dataclass(frozen=True, slots=True)
class _Claim:
    target: Target
    path: str
    field: tuple[str | int, ...]


def check_collisions(manifest: Manifest, targets: list[Target]) -> None:
    """Every output has one writer and is nobody's input; all problems reported."""
    errors: list[ManifestError] = []
    inputs: dict[str, _Claim] = {}
    for target in targets:
        for field, relative in target.inputs.items():
            inputs.setdefault(relative.casefold(), _Claim(target, relative, field))
    outputs: dict[str, _Claim] = {}
    for target in targets:
        for output in target.outputs:
            claim = _Claim(target, output, ("output",))
            key = output.casefold()
            if key.split("/", 1)[0] == STATE_FOLDER:
                message = f"output {output} is inside imagebuild's state folder {STATE_FOLDER}/"
                errors.append(_error(manifest, claim, message))
            elif key in outputs:
                errors.append(
                    _error(manifest, claim, _written_twice(manifest, claim, outputs[key]))
                )
            else:
                outputs[key] = claim
            if key in inputs:
                reader = inputs[key]
                errors.append(
                    _error(
                        manifest,
                        claim,
                        f"output {output} would overwrite {_same_file(output, reader.path)}an input"
                        f" of target {reader.target.name} ({_where(manifest, reader)})",
                    )
                )
    if errors:
        raise collected(errors)


def _written_twice(manifest: Manifest, claim: _Claim, first: _Claim) -> str:
    if first.target is claim.target:
        return f"output {claim.path} is listed twice{_case_note(claim.path, first.path)}"
    return (
        f"output {claim.path} is also written by target {first.target.name}"
        f" ({_where(manifest, first)}){_case_note(claim.path, first.path)}"
    )


def _case_note(path: str, other: str) -> str:
    if path == other:
        return ""
    return f": {other} and {path} differ only in letter case, one file on macOS and Windows"


def _same_file(path: str, other: str) -> str:
    return "" if path == other else f"{other}, the same file in another letter case, "


def _where(manifest: Manifest, claim: _Claim) -> str:
    target = claim.target
    location = manifest.source.locate(target.spec.origin(target.manifest_field(claim.field)))
    return f"line {location.line}"


def _error(manifest: Manifest, claim: _Claim, message: str) -> ManifestError:
    return manifest.target_error(claim.target.spec, message, claim.field)
