"""One remote cache per test, on each kind of storage the suite can run: a real
S3 server on 127.0.0.1 (moto's server mode; s3fs talks to it over HTTP as to
AWS, credentials from the standard AWS variables), a folder (``file://``) and
fsspec's in-process ``memory://``."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from moto.server import ThreadedMotoServer

from imagebuild.planning.cache import Cache
from imagebuild.remote.client import RemoteCache
from imagebuild.remote.settings import Mode, resolve

SECRET = "s3cr3t-Kq8ZbW2mVx7Lp4Rt9Ny6"
KINDS = ("s3", "file", "memory")


def start_moto() -> tuple[ThreadedMotoServer, str]:
    # The server logs every request through werkzeug, into whatever stream
    # a test captures: a build's stderr would drown in it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


def use_aws(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """The AWS CLI's variables, which is all a user gives imagebuild."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def make_bucket(endpoint: str) -> str:
    name = f"team-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return name


@dataclass
class Remote:
    """A fresh remote URL and a way to open it as a build would."""

    kind: str
    url: str
    tmp_path: Path
    warnings: list[str] = field(default_factory=list)
    clients: list[RemoteCache] = field(default_factory=list)

    def cache(self, name: str = "clone") -> Cache:
        return Cache(self.tmp_path / name / ".imagebuild" / "cache")

    def open(
        self,
        cache: Cache | None = None,
        mode: Mode | None = None,
        clock: Callable[[], float] | None = None,
        **settings: Any,
    ) -> RemoteCache:
        block = {"remote": self.url, **settings}
        client = RemoteCache(
            resolve(block, os.environ),
            cache or self.cache(),
            mode or Mode(),
            self.warnings.append,
            clock=clock or time.time,
        )
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture(params=KINDS)
def remote(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Remote]:
    kind = request.param
    monkeypatch.delenv("IMAGEBUILD_REMOTE", raising=False)
    if kind == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        use_aws(monkeypatch, endpoint)
        url = f"s3://{make_bucket(endpoint)}/team-cache"
    elif kind == "file":
        url = (tmp_path / "shared" / "cache").as_uri()
    else:
        url = f"memory:///cache-{uuid.uuid4().hex[:8]}"
    remote = Remote(kind, url, tmp_path)
    yield remote
    remote.close()
    if kind == "memory":
        root = url.removeprefix("memory://")
        for path in [path for path in MemoryFileSystem.store if path.startswith(root)]:
            del MemoryFileSystem.store[path]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(name: str) -> str:
    return sha(f"fingerprint of {name}".encode())


def made(cache: Cache, name: str, *pixels: bytes) -> tuple[str, dict[str, Any]]:
    """A result as the executor records it locally: objects, then the record."""
    outputs = []
    for data in pixels or (f"pixels of {name}".encode(),):
        cache.store(sha(data), data)
        outputs.append({"sha256": sha(data), "size": len(data)})
    record = {"outputs": outputs, "seed": 7, "taskUUID": str(uuid.uuid4()), "cost": 0.0025}
    cache.record(fingerprint(name), record)
    return fingerprint(name), record
