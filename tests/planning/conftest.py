"""A manifest folder in tmp_path with its lock, stat cache and cache, and a
stand-in for the executor that records a plan as built."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imagebuild.execution.executor import lock_entry
from imagebuild.pipeline import Session, open_session
from imagebuild.planning.cache import Cache
from imagebuild.planning.lock import LockFile
from imagebuild.planning.plan import Plan, PlanOptions, Step, make_plan
from imagebuild.planning.statcache import StatCache


@dataclass
class Bench:
    root: Path
    lock: LockFile
    stats: StatCache
    cache: Cache

    @property
    def manifest(self) -> Path:
        return self.root / "imagebuild.yaml"

    def session(self, text: str, provider: str | None = None) -> Session:
        self.manifest.write_text(text, encoding="utf-8")
        return open_session(str(self.manifest), provider=provider)

    def plan(self, text: str, provider: str | None = None, **options: Any) -> Plan:
        targets = self.session(text, provider).targets
        return make_plan(targets, self.lock, self.stats, self.cache, PlanOptions(**options))

    def step(self, text: str, provider: str | None = None, **options: Any) -> Step:
        (step,) = self.plan(text, provider, **options).steps
        return step

    def build(self, plan: Plan) -> None:
        """What the executor records for each step that is not kept: outputs on
        disk, objects and a record in the cache, remembered stats, a lock entry."""
        for step in plan.work:
            outputs = []
            for index, path in enumerate(step.target.outputs):
                data = f"pixels of {step.fingerprint} #{index}".encode()
                digest = hashlib.sha256(data).hexdigest()
                destination = self.root / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(data)
                self.cache.store(digest, data)
                self.stats.remember(path, digest)
                outputs.append({"sha256": digest, "size": len(data)})
            record: dict[str, object] = {"outputs": outputs}
            if "seed" in step.request:
                record["seed"] = step.request["seed"]
            self.cache.record(step.fingerprint, record)
            self.lock.put(step.name, lock_entry(step, record))


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    state = tmp_path / ".imagebuild"
    return Bench(
        root=tmp_path,
        lock=LockFile(tmp_path / "imagebuild.lock.json"),
        stats=StatCache(state / "stat.json", tmp_path),
        cache=Cache(state / "cache"),
    )
