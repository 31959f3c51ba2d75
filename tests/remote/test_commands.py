"""``imagebuild push`` and ``imagebuild pull``, as a team uses them: build on one
clone, push, pull into a fresh clone that has only the manifest and the lock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from imagebuild.remote.store import object_key
from tests.conftest import Project
from tests.remote.conftest import SECRET, Remote, make_bucket, sha, start_moto, use_aws
from tests.remote.test_client import raw

MANIFEST = """\
version: 1
cache:
  remote: {url}
defaults:
  model: local
  width: 32
  height: 32
targets:
  - name: "tile-{{{{ n }}}}"
    matrix:
      n: [1, 2, 3]
    prompt: "tile {{{{ n }}}}"
    output: "out/tile-{{{{ n }}}}.png"
"""


@pytest.fixture
def built(project: Project, remote: Remote, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.delenv("IMAGEBUILD_CACHE_DIR", raising=False)
    project.write(MANIFEST.format(url=remote.url))
    assert project.build()["summary"]["generated"] == 3
    return project


def clone(project: Project, name: str = "clone") -> Path:
    folder = project.root / name
    folder.mkdir()
    shutil.copy2(project.manifest, folder / "imagebuild.yaml")
    shutil.copy2(project.lock, folder / "imagebuild.lock.json")
    return folder / "imagebuild.yaml"


def statuses(document: dict[str, object]) -> dict[str, str]:
    targets = document["targets"]
    assert isinstance(targets, list)
    return {target["name"]: target["status"] for target in targets}


def test_push_then_pull_into_a_fresh_clone(built: Project) -> None:
    pushed = built.run("push", "--json")
    assert pushed.code == 0, pushed.err
    assert pushed.json()["summary"]["pushed"] == 3
    again = built.run("push", "--json")
    assert statuses(again.json()) == dict.fromkeys(["tile-1", "tile-2", "tile-3"], "present")

    manifest = clone(built)
    pulled = built.run("pull", "--json", str(manifest))
    assert pulled.code == 0, pulled.err
    assert statuses(pulled.json()) == dict.fromkeys(["tile-1", "tile-2", "tile-3"], "restored")
    for n in (1, 2, 3):
        original = (built.root / f"out/tile-{n}.png").read_bytes()
        assert (manifest.parent / f"out/tile-{n}.png").read_bytes() == original
    assert set(built.actions(str(manifest)).values()) == {"keep"}
    again = built.run("pull", "--json", str(manifest))
    assert set(statuses(again.json()).values()) == {"present"}


def test_pull_restores_only_the_selected_targets(built: Project) -> None:
    assert built.run("push").code == 0
    manifest = clone(built)
    result = built.run("pull", "--json", "-t", "tile-2", str(manifest))
    assert statuses(result.json()) == {"tile-2": "restored"}
    assert sorted(path.name for path in (manifest.parent / "out").iterdir()) == ["tile-2.png"]


def test_a_corrupted_remote_object_never_becomes_an_output(built: Project, remote: Remote) -> None:
    assert built.run("push").code == 0
    digest = built.locked()["tile-1"]["outputs"][0]["sha256"]
    fs, root = raw(remote)
    path = f"{root}/{object_key(digest)}"
    damaged = bytearray(fs.cat_file(path))
    damaged[-5] ^= 0x10
    fs.rm_file(path)
    fs.pipe_file(path, bytes(damaged))

    manifest = clone(built)
    result = built.run("pull", "--json", str(manifest))
    assert result.code == 1
    assert statuses(result.json())["tile-1"] == "failed"
    assert not (manifest.parent / "out/tile-1.png").exists()
    assert (
        sha((manifest.parent / "out/tile-2.png").read_bytes())
        == (built.locked()["tile-2"]["outputs"][0]["sha256"])
    )
    lines = result.err.splitlines()
    assert any(f"object {object_key(digest)} is corrupt" in line for line in lines)
    assert "imagebuild.yaml: target tile-1: cannot pull: not in the remote cache" in result.err
    assert "Traceback" not in result.err


def test_push_takes_back_objects_the_local_cache_lost(built: Project) -> None:
    shutil.rmtree(built.root / ".imagebuild" / "cache")
    result = built.run("push", "--json")
    assert result.code == 0, result.err
    assert result.json()["summary"]["pushed"] == 3
    (built.root / "out/tile-3.png").unlink()
    shutil.rmtree(built.root / ".imagebuild" / "cache")
    manifest = clone(built)
    assert built.run("pull", str(manifest)).code == 0
    assert (manifest.parent / "out/tile-3.png").is_file()


def test_push_and_pull_need_a_remote(project: Project) -> None:
    project.write("version: 1\ntargets:\n  - name: a\n    model: local\n    prompt: hi\n")
    for command in ("push", "pull"):
        result = project.run(command)
        assert result.code == 1
        assert result.err.strip() == (
            "imagebuild.yaml: no remote cache configured "
            "(set cache.remote in the manifest, or IMAGEBUILD_REMOTE)"
        )


@pytest.fixture
def stopped(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Project, ThreadedMotoServer]]:
    server, endpoint = start_moto()
    use_aws(monkeypatch, endpoint)
    monkeypatch.delenv("IMAGEBUILD_CACHE_DIR", raising=False)
    monkeypatch.delenv("IMAGEBUILD_REMOTE", raising=False)
    project.write(MANIFEST.format(url=f"s3://{make_bucket(endpoint)}/team"))
    project.build()
    server.stop()
    yield project, server


def test_a_remote_that_is_down_is_one_line_and_no_secret(
    stopped: tuple[Project, ThreadedMotoServer],
) -> None:
    project, _ = stopped
    shutil.rmtree(project.root / "out")
    shutil.rmtree(project.root / ".imagebuild" / "cache")
    for command in ("push", "pull"):
        result = project.run(command)
        assert result.code == 1
        (line,) = result.err.splitlines()
        assert line.startswith("remote cache s3://team-")
        assert "Could not connect" in line
        assert SECRET not in line
        assert "Traceback" not in result.err
    assert SECRET not in project.lock.read_text()
