"""The remote cache's layout over an fsspec filesystem, and its I/O.

    ac/<fp[:2]>/<fp>.json     action records by fingerprint, created once
    cas/<sha[:2]>/<sha>       objects by the sha256 of their bytes
    leases/<fp>/<n>.json      leases on a fingerprint, one file per generation

Every operation takes many keys at once and is bounded: each storage call
gets ``timeout`` seconds, ``concurrency`` calls are in flight, and the first
failure cancels the rest (a remote that is down answers once, not once per
key). Asynchronous filesystems (s3fs, gcsfs, adlfs) run their calls together
on fsspec's event loop; the others on a small thread pool.

Writes are create-only: fsspec's ``mode="create"``, which s3fs sends as
``If-None-Match: *``, gcsfs and adlfs as their own preconditions; on a local
folder a temporary file hard-linked into place, so that a reader never sees
a record half-written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebuild.planning.files import temporary_beside
from imagebuild.remote.errors import StorageError
from imagebuild.remote.settings import RemoteSettings

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

Job = tuple[str, Callable[[], Any]]
# Called with a key and its job's result as each job ends.
Each = Callable[[str, Any], None]
# Called with a key and its bytes (None where nothing is there) as each read ends.
Arrived = Callable[[str, bytes | None], None]
# A process's own threads racing for one key on a filesystem whose create is
# a look then a write (memory://, and sync backends without a precondition).
_CREATES = threading.Lock()
# Extras to install per protocol, for the message when its package is missing.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}


RECORDS_FOLDER = "ac"


def record_key(fingerprint: str) -> str:
    return f"{RECORDS_FOLDER}/{fingerprint[:2]}/{fingerprint}.json"


def object_key(digest: str) -> str:
    return f"cas/{digest[:2]}/{digest}"


def lease_folder(fingerprint: str) -> str:
    return f"leases/{fingerprint}"


def lease_key(fingerprint: str, generation: int) -> str:
    return f"{lease_folder(fingerprint)}/{generation}.json"


def connect(settings: RemoteSettings) -> Store:
    """The store at ``settings.url``; credentials come from the filesystem's
    own environment and config files. Imports fsspec, and the backend."""
    import fsspec

    options: dict[str, Any] = {"skip_instance_cache": True, **settings.options}
    if settings.protocol in ("s3", "s3a"):
        # s3fs asks for an object's size before reading it when it may split
        # the read (a HEAD, and a listing when the key is absent): one GET is
        # enough for objects of an image's size. botocore allows 10
        # connections by default, and waits a minute to connect.
        options.setdefault("max_concurrency", 1)
        options["config_kwargs"] = {
            "max_pool_connections": settings.concurrency,
            "connect_timeout": settings.timeout,
            "read_timeout": settings.timeout,
            **options.get("config_kwargs", {}),
        }
    try:
        filesystem, root = fsspec.core.url_to_fs(settings.url, **options)
    except ImportError:
        extra = EXTRAS.get(settings.protocol)
        hint = f": pip install 'imagebuild[{extra}]'" if extra else ""
        raise StorageError(
            f"remote cache {settings.url}: {settings.protocol}:// needs a package "
            f"that is not installed{hint}"
        ) from None
    except Exception as error:
        message = f"remote cache {settings.url}: cannot open it: {_reason(error)}"
        raise StorageError(message) from None
    return Store(filesystem, root, settings)


class Store:
    def __init__(self, filesystem: AbstractFileSystem, root: str, settings: RemoteSettings) -> None:
        from fsspec.implementations.local import LocalFileSystem

        self.filesystem = filesystem
        self.root = root.rstrip("/")
        self.url = settings.url
        self.timeout = settings.timeout
        self.concurrency = settings.concurrency
        self._async = bool(getattr(filesystem, "async_impl", False))
        self._local = isinstance(filesystem, LocalFileSystem)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def read(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The bytes at each key; keys with nothing there are left out."""
        found: dict[str, bytes] = {}

        def keep(key: str, data: bytes | None) -> None:
            if data is not None:
                found[key] = data

        self.read_each(keys, keep)
        return found

    def read_each(
        self,
        keys: Iterable[str],
        arrived: Arrived,
        stopped: Callable[[], bool] | None = None,
        at_once: int | None = None,
        most: Mapping[str, int] | None = None,
    ) -> None:
        """Hand each key's bytes to ``arrived`` as soon as they come (None where
        nothing is there), so that at most ``at_once`` objects (default and
        at most ``concurrency``) are in memory at once. ``arrived`` runs on
        the thread that read the key (fsspec's event loop, for an
        asynchronous filesystem): it must be brief and must not raise. Once
        ``stopped()`` is true, keys not yet asked for are left out. A key
        with a number in ``most`` is read up to that many bytes (a ranged
        read): whatever a remote holds there, no more comes into memory."""
        fs = self.filesystem
        read = fs._cat_file if self._async else fs.cat_file
        limits = most or {}
        jobs = [
            (key, _bind(read, self.path(key), start=0, end=limits[key]))
            if key in limits
            else (key, _bind(read, self.path(key)))
            for key in dict.fromkeys(keys)
        ]

        def each(key: str, result: Any) -> None:
            arrived(key, None if isinstance(result, BaseException) else result)

        self._each("read", jobs, (FileNotFoundError,), each, stopped, at_once)

    def create(self, items: Mapping[str, bytes]) -> dict[str, bool]:
        """Create each key that does not exist; True where this call created
        it, False where something was already there (which stays as it was)."""
        if self._async:
            fs = self.filesystem
            jobs = [
                (key, _bind(fs._pipe_file, self.path(key), data, mode="create"))
                for key, data in items.items()
            ]
        else:
            create = _create_local if self._local else self._create_guarded
            jobs = [(key, _bind(create, self.path(key), data)) for key, data in items.items()]
        results = self._each("create", jobs, (FileExistsError,))
        return {
            key: not isinstance(result, BaseException)
            for key, result in zip(items, results, strict=True)
        }

    def names(self, folder: str) -> list[str]:
        """The names of the files directly in ``folder``; none when it is absent."""
        fs = self.filesystem
        path = self.path(folder)
        fs.invalidate_cache(path)
        job = _bind(fs._ls if self._async else fs.ls, path, detail=False)
        (listing,) = self._each("list", [(folder, job)], (FileNotFoundError,))
        if isinstance(listing, BaseException):
            return []
        return [str(name).rstrip("/").rsplit("/", 1)[-1] for name in listing]

    def every_name(self, folder: str) -> set[str]:
        """The names of all files under ``folder``, at any depth: one listing
        (a page of a thousand names per request on S3) instead of one request
        per file."""
        fs = self.filesystem
        path = self.path(folder)
        fs.invalidate_cache(path)
        job = _bind(fs._find if self._async else fs.find, path)
        (found,) = self._each("list", [(folder, job)], (FileNotFoundError,))
        if isinstance(found, BaseException):
            return set()
        return {str(name).rsplit("/", 1)[-1] for name in found}

    def delete(self, keys: Iterable[str]) -> None:
        fs = self.filesystem
        if self._async:
            jobs = [(key, _bind(fs._rm_file, self.path(key))) for key in keys]
        else:
            jobs = [(key, _bind(fs.rm_file, self.path(key))) for key in keys]
        self._each("delete", jobs, (FileNotFoundError,))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _create_guarded(self, path: str, data: bytes) -> None:
        with _CREATES:
            self.filesystem.pipe_file(path, data, mode="create")

    def _each(
        self,
        verb: str,
        jobs: Sequence[Job],
        expected: tuple[type[BaseException], ...],
        each: Each | None = None,
        stopped: Callable[[], bool] | None = None,
        at_once: int | None = None,
    ) -> list[Any]:
        """Each job's result in order, or handed to ``each`` as it comes (the
        list then holds None); an ``expected`` exception stands for its job's
        result, any other raises one StorageError for the whole call. Jobs
        not started when ``stopped()`` turns true are not run; at most
        ``at_once`` (up to ``concurrency``) run together."""
        if not jobs:
            return []
        together = max(1, min(at_once or self.concurrency, self.concurrency))
        call = _Call(verb, expected, each, stopped, together)
        if self._async:
            from fsspec.asyn import sync

            results: list[Any] = sync(self.filesystem.loop, self._gather, call, jobs)
            return results
        return self._threaded(call, jobs)

    async def _gather(self, call: _Call, jobs: Sequence[Job]) -> list[Any]:
        slots = asyncio.Semaphore(call.together)

        async def one(key: str, job: Callable[[], Any]) -> Any:
            async with slots:
                if call.stopped():
                    return None
                try:
                    result = await asyncio.wait_for(job(), self.timeout)
                except call.expected as error:
                    result = error
                except TimeoutError:
                    reason = f"no answer in {self.timeout:g} s"
                    raise self._failure(call.verb, key, reason) from None
                except Exception as error:
                    raise self._failure(call.verb, key, _reason(error)) from None
            return call.handed(key, result)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(key, job)) for key, job in jobs]
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]

    def _threaded(self, call: _Call, jobs: Sequence[Job]) -> list[Any]:
        slots = threading.Semaphore(call.together)

        def run(key: str, job: Callable[[], Any]) -> Any:
            with slots:
                if call.stopped():
                    return None
                try:
                    result = job()
                except call.expected as error:
                    result = error
                return call.handed(key, result)

        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.concurrency, thread_name_prefix="imagebuild-remote"
            )
        futures = [self._pool.submit(run, key, job) for key, job in jobs]
        limit = self.timeout * math.ceil(len(jobs) / call.together)
        done, pending = concurrent.futures.wait(futures, limit, concurrent.futures.FIRST_EXCEPTION)
        for waiting in pending:
            waiting.cancel()
        keys = [key for key, _ in jobs]
        for key, future in zip(keys, futures, strict=True):
            error = future.exception() if future in done else None
            if error is not None:
                raise self._failure(call.verb, key, _reason(error))
        for key, future in zip(keys, futures, strict=True):
            if future in pending:
                raise self._failure(call.verb, key, f"no answer in {limit:g} s")
        return [future.result() for future in futures]

    def _failure(self, verb: str, key: str, reason: str) -> StorageError:
        return StorageError(f"remote cache {self.url}: cannot {verb} {key}: {reason}")


@dataclass(frozen=True, slots=True)
class _Call:
    """One batch of storage jobs: its verb (for messages), the exceptions that
    stand for a job's result, where results go as they come (if not back
    to the caller in order), when to stop, and how many run at once."""

    verb: str
    expected: tuple[type[BaseException], ...]
    each: Each | None
    until: Callable[[], bool] | None
    # Jobs running at once.
    together: int

    def stopped(self) -> bool:
        return self.until is not None and self.until()

    def handed(self, key: str, result: Any) -> Any:
        if self.each is None:
            return result
        self.each(key, result)
        return None


def _bind(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: function(*args, **kwargs)


def _create_local(path: str, data: bytes) -> None:
    """Create-only with all of ``data`` at once: written beside, then linked
    into place (a link fails where the name exists). A folder that cannot
    hold links gets an exclusive open instead."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(target)
    temporary.write_bytes(data)
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise
    except OSError:
        with target.open("xb") as handle:
            handle.write(data)
    finally:
        temporary.unlink(missing_ok=True)


def _reason(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__
