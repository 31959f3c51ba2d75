"""A project folder in tmp_path and a way to run the command line in it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from imagebuild.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return orjson.loads(self.out)


@dataclass
class Project:
    root: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def manifest(self) -> Path:
        return self.root / "imagebuild.yaml"

    @property
    def lock(self) -> Path:
        return self.root / "imagebuild.lock.json"

    def write(self, text: str, name: str = "imagebuild.yaml") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def run(self, *argv: str) -> Result:
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def plan(self, *argv: str) -> dict[str, Any]:
        result = self.run("plan", "--json", *argv)
        assert result.code == 0, result.err
        plan: dict[str, Any] = result.json()
        return plan

    def build(self, *argv: str) -> dict[str, Any]:
        result = self.run("build", "--json", *argv)
        assert result.code == 0, result.err
        report: dict[str, Any] = result.json()
        return report

    def actions(self, *argv: str) -> dict[str, str]:
        return {t["name"]: t["action"] for t in self.plan(*argv)["targets"]}

    def locked(self) -> dict[str, Any]:
        targets: dict[str, Any] = orjson.loads(self.lock.read_bytes())["targets"]
        return targets


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Project]:
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield Project(tmp_path, capsys)
    finally:
        os.chdir(previous)
