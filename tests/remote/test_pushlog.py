"""The push log: what a build queued and what reached the remote."""

from __future__ import annotations

from pathlib import Path

from imagebuild.remote.pushlog import PushLog

URL = "s3://team/cache"


def test_claim_gives_the_unfinished_pushes_once(tmp_path: Path) -> None:
    log = PushLog(tmp_path, URL)
    log.queued({"a": {"outputs": []}, "b": {"outputs": [], "seed": 1}})
    log.pushed(["a"])
    assert log.claim() == {"b": {"outputs": [], "seed": 1}}
    assert PushLog(tmp_path, URL).claim() == {"b": {"outputs": [], "seed": 1}}
    log.pushed(["b"])
    assert log.claim() == {}
    assert list(log.folder.iterdir()) == []


def test_a_torn_line_is_skipped(tmp_path: Path) -> None:
    log = PushLog(tmp_path, URL)
    log.queued({"a": {"outputs": []}})
    with log.path.open("ab") as handle:
        handle.write(b'\n+ b {"outputs": [')
    log.queued({"c": {"outputs": []}})
    assert set(log.claim()) == {"a", "c"}


def test_each_remote_has_its_own_log(tmp_path: Path) -> None:
    PushLog(tmp_path, URL).queued({"a": {"outputs": []}})
    assert PushLog(tmp_path, "gs://other/cache").claim() == {}
    assert set(PushLog(tmp_path, URL).claim()) == {"a"}
