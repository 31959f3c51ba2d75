"""The cache block and IMAGEBUILD_REMOTE: checked, located, and never a credential."""

from __future__ import annotations

import subprocess
import sys

import pytest

from imagebuild.errors import UsageError
from imagebuild.remote.errors import RemoteSettingError
from imagebuild.remote.settings import Mode, RemoteSettings, check_block, resolve
from tests.conftest import Project

TARGETS = "targets:\n  - name: a\n    model: local\n    prompt: hi\n"


def test_defaults_and_values() -> None:
    settings = resolve({"remote": "s3://team/cache/", "timeout": 5, "concurrency": 8}, {})
    assert settings == RemoteSettings("s3://team/cache", timeout=5.0, concurrency=8)
    assert (settings.lease, settings.wait, settings.protocol) == (60.0, 1800.0, "s3")


def test_no_remote_configured_is_none() -> None:
    assert resolve({}, {}) is None
    assert resolve({"timeout": 3}, {"IMAGEBUILD_REMOTE": " "}) is None


def test_the_environment_wins_and_keeps_options_of_the_same_protocol() -> None:
    block = {"remote": "s3://team/cache", "options": {"endpoint_url": "http://minio:9000"}}
    same = resolve(block, {"IMAGEBUILD_REMOTE": "s3://ci-bucket/cache"})
    assert same is not None
    assert (same.url, same.options) == ("s3://ci-bucket/cache", block["options"])
    other = resolve(block, {"IMAGEBUILD_REMOTE": "gs://ci-bucket/cache"})
    assert other is not None
    assert (other.url, other.options) == ("gs://ci-bucket/cache", {})


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"remtoe": "s3://a"}, "cache.remtoe: unknown setting 'remtoe' (did you mean 'remote'?)"),
        ({"remote": "team-bucket"}, "cache.remote: expected a URL such as s3://bucket/prefix"),
        ({"timeout": 0}, "cache.timeout: 0 is not a positive float"),
        ({"concurrency": 2.5}, "cache.concurrency: 2.5 is not a positive int"),
        ({"wait": True}, "cache.wait: True is not a positive float"),
        ({"options": ["a"]}, "cache.options: must be a mapping of fsspec storage options"),
    ],
)
def test_bad_settings_name_their_key(block: dict[str, object], message: str) -> None:
    with pytest.raises(RemoteSettingError) as failure:
        check_block(block)
    assert str(failure.value) == message


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"secret": "x"}, ("options", "secret")),
        ({"key": "AKIA"}, ("options", "key")),
        (
            {"client_kwargs": {"aws_secret_access_key": "x"}},
            ("options", "client_kwargs", "aws_secret_access_key"),
        ),
        ({"account_key": "x"}, ("options", "account_key")),
        ({"sas_token": "x"}, ("options", "sas_token")),
        ({"credentials": {"type": "service_account"}}, ("options", "credentials")),
        ({"storage_options": [{"password": "x"}]}, ("options", "storage_options", "0", "password")),
    ],
)
def test_credentials_in_options_are_refused(
    options: dict[str, object], path: tuple[str, ...]
) -> None:
    with pytest.raises(RemoteSettingError) as failure:
        check_block({"remote": "s3://team/cache", "options": options})
    assert failure.value.path == path
    assert failure.value.at_key
    assert "credentials come from the cloud's own environment variables" in str(failure.value)


def test_harmless_options_pass() -> None:
    options = {"endpoint_url": "http://127.0.0.1:9000", "profile": "team", "anon": False}
    assert check_block({"remote": "s3://t/c", "options": options})["options"] == options


@pytest.mark.parametrize(
    "url",
    [
        "s3://AKIAEXAMPLE:hunter2@team/cache",
        "simplecache::s3://user:pw@team/cache",
        "az://container/cache?sig=abc&sv=2024",
    ],
)
def test_credentials_in_urls_are_refused_without_echoing_them(url: str) -> None:
    for block, environ in (({"remote": url}, {}), ({}, {"IMAGEBUILD_REMOTE": url})):
        with pytest.raises(RemoteSettingError) as failure:
            resolve(block, environ)
        message = str(failure.value)
        assert "the URL carries credentials" in message
        assert "hunter2" not in message and "pw" not in message and "abc" not in message
    with pytest.raises(RemoteSettingError, match=r"^IMAGEBUILD_REMOTE: the URL carries"):
        resolve({}, {"IMAGEBUILD_REMOTE": url})


def test_mode_from_flags() -> None:
    assert Mode.from_flags(no_remote=False, read_only=True, required=True) == Mode(
        read_only=True, required=True
    )
    assert Mode.from_flags(no_remote=True, read_only=False, required=False) == Mode(enabled=False)
    with pytest.raises(UsageError, match="--no-remote cannot be combined"):
        Mode.from_flags(no_remote=True, read_only=False, required=True)


def test_a_bad_cache_block_is_a_located_error(project: Project) -> None:
    project.write(
        f"version: 1\ncache:\n  remote: s3://team/cache\n  options:\n    secret: abc\n{TARGETS}"
    )
    result = project.run("validate")
    assert result.code == 1
    assert result.err.startswith("imagebuild.yaml:5:5: cache.options.secret: credentials come from")
    assert "abc" not in result.err
    project.write(f"version: 1\ncache:\n  remote: s3://team/cache\n  lease: -1\n{TARGETS}")
    result = project.run("plan")
    assert result.err.strip() == "imagebuild.yaml:4:10: cache.lease: -1 is not a positive float"


def test_a_manifest_with_a_remote_validates_and_plans_without_fsspec(project: Project) -> None:
    project.write(f"version: 1\ncache:\n  remote: s3://team/cache\n{TARGETS}")
    probe = (
        "import sys\n"
        "from imagebuild.cli import main\n"
        "assert main(['validate']) == 0\n"
        "assert main(['plan']) == 0\n"
        "assert 'fsspec' not in sys.modules and 'imagebuild.remote.client' not in sys.modules\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=project.root, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
