"""The journal: an append-only record of what a build paid for, which survives
the death of the process and replays into the lock."""

from __future__ import annotations

from pathlib import Path

import orjson

from imagebuild.execution.journal import Journal, Replay


def journal_at(tmp_path: Path) -> Journal:
    return Journal(tmp_path / ".imagebuild" / "m.journal")


def lines(path: Path) -> list[dict[str, object]]:
    with path.open("rb") as handle:  # another handle than the journal's own
        return [orjson.loads(line) for line in handle.read().splitlines()]


def test_submitted_is_recorded_with_the_task_id(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1")
    (record,) = lines(journal.path)
    assert record["event"] == "submitted"
    assert record["target"] == "hero"
    assert record["fingerprint"] == "fp1"
    assert record["provider"] == "runware"
    assert record["taskId"] == "task-1"
    assert isinstance(record["time"], float)


def test_built_is_recorded_with_the_entry(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    entry = {"fingerprint": "fp1", "outputs": [{"path": "out/a.png", "sha256": "ab"}]}
    journal.built("hero", entry)
    assert lines(journal.path) == [{"event": "built", "target": "hero", "entry": entry}]


def test_records_are_on_disk_at_once_without_close(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1")
    assert len(lines(journal.path)) == 1
    journal.built("hero", {"fingerprint": "fp1"})
    assert len(lines(journal.path)) == 2
    # and a fresh reader replays them while the writer is still open
    replay = Journal(journal.path).replay()
    assert set(replay.built) == {"hero"}


def test_records_are_appended_across_journals(tmp_path: Path) -> None:
    first = journal_at(tmp_path)
    first.submitted("a", "fp1", "runware", "task-1")
    first.close()
    second = journal_at(tmp_path)
    second.submitted("b", "fp2", "runware", "task-2")
    second.close()
    assert [record["taskId"] for record in lines(first.path)] == ["task-1", "task-2"]


def test_replay_of_a_missing_journal_is_empty(tmp_path: Path) -> None:
    replay = journal_at(tmp_path).replay()
    assert replay == Replay()
    assert not replay


def test_replay_lists_submitted_tasks_as_pending(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1")
    journal.submitted("logo", "fp2", "runcomfy", "task-2")
    replay = journal.replay()
    assert replay
    assert set(replay.pending) == {"task-1", "task-2"}
    assert replay.pending["task-2"]["target"] == "logo"
    assert replay.built == {}


def test_built_supersedes_pending_with_the_same_fingerprint(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1")
    journal.submitted("logo", "fp2", "runware", "task-2")
    journal.built("hero", {"fingerprint": "fp1", "seed": 5})
    replay = journal.replay()
    assert replay.built == {"hero": {"fingerprint": "fp1", "seed": 5}}
    assert set(replay.pending) == {"task-2"}


def test_built_with_another_fingerprint_leaves_the_pending_task(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp-new", "runware", "task-1")
    journal.built("hero", {"fingerprint": "fp-restored"})
    replay = journal.replay()
    assert set(replay.pending) == {"task-1"}
    assert replay.built["hero"]["fingerprint"] == "fp-restored"


def test_a_later_built_record_replaces_an_earlier_one(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.built("hero", {"fingerprint": "fp1"})
    journal.built("hero", {"fingerprint": "fp2"})
    assert journal.replay().built == {"hero": {"fingerprint": "fp2"}}


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1")
    journal.built("logo", {"fingerprint": "fp2"})
    full = orjson.dumps({"event": "built", "target": "hero", "entry": {"fingerprint": "fp1"}})
    with journal.path.open("ab") as handle:
        handle.write(full[: len(full) // 2])  # the process died mid-record
    replay = Journal(journal.path).replay()
    assert set(replay.pending) == {"task-1"}
    assert set(replay.built) == {"logo"}


def test_a_record_appended_after_a_torn_line_survives(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1")
    with journal.path.open("ab") as handle:
        handle.write(b'{"event": "submitted", "tar')
    resumed = journal_at(tmp_path)
    resumed.submitted("logo", "fp2", "runware", "task-2")
    assert set(Journal(journal.path).replay().pending) == {"task-1", "task-2"}
    resumed.close()
    assert set(Journal(journal.path).replay().pending) == {"task-1", "task-2"}


def test_close_removes_the_journal_when_nothing_is_owed(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1")
    journal.built("hero", {"fingerprint": "fp1"})
    journal.sync()
    journal.close()
    assert not journal.path.exists()
    assert not journal.replay()


def test_close_keeps_only_unanswered_submissions(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.submitted("hero", "fp1", "runware", "task-1", seed=42)
    journal.submitted("logo", "fp2", "runware", "task-2")
    journal.built("logo", {"fingerprint": "fp2"})
    journal.close()
    replay = Journal(journal.path).replay()
    assert set(replay.pending) == {"task-1"}
    assert replay.built == {}
    assert replay.seeds() == {"hero": 42}


def test_replayed_submissions_stay_owed_until_built(tmp_path: Path) -> None:
    journal_at(tmp_path).submitted("hero", "fp1", "runware", "task-1")
    resumed = journal_at(tmp_path)
    assert set(resumed.replay().pending) == {"task-1"}
    resumed.close()
    assert set(Journal(resumed.path).replay().pending) == {"task-1"}
    again = journal_at(tmp_path)
    again.replay()
    again.built("hero", {"fingerprint": "fp1"})
    again.close()
    assert not again.path.exists()


def test_close_of_an_unopened_journal_is_harmless(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    journal.sync()
    journal.close()
    journal.close()
    assert not journal.path.exists()
