"""Paths written in a manifest: outputs portable everywhere, inputs readable here."""

from __future__ import annotations

import pytest

from imagebuild.manifest.paths import input_problem, is_absolute, output_problem


@pytest.mark.parametrize(
    "path",
    [
        "out/a.png",
        "out/city/hero-1.webp",
        "a.b.c.png",
        "out\\a.png",
        "ünïcode/写真.png",
        "x" * 251 + ".png",
    ],
)
def test_ordinary_outputs_are_accepted(path: str) -> None:
    assert output_problem(path) is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("out/a\0.png", "holds the control character U+0000"),
        ("out/a\nb.png", "holds the control character U+000A"),
        (
            "out/" + "x" * 252 + ".png",
            "has a file name of 256 bytes; file systems take at most 255",
        ),
        ("out/" + "é" * 127 + ".png", "has a file name of 258 bytes"),
        ("a/" * 600 + "b.png", "is 1,205 characters long; paths are at most 1,024"),
        ("out/CON.png", "uses 'CON.png', a device name on Windows"),
        ("out/nul/a.png", "uses 'nul', a device name on Windows"),
        ("out/com1.tar.png", "a device name on Windows"),
        ("out/a:b.png", "holds :, which Windows refuses in file names"),
        ("out/what?.png", "holds ?, which Windows refuses"),
        ("out/dir./a.png", "has 'dir.', ending in a dot or space, which Windows drops"),
        ("out/a.png ", "ending in a dot or space"),
    ],
)
def test_outputs_no_platform_can_write_are_refused(path: str, problem: str) -> None:
    found = output_problem(path)
    assert found is not None
    assert problem in found


def test_names_that_only_start_like_a_device_are_outputs() -> None:
    assert output_problem("out/console.png") is None
    assert output_problem("out/com10.png") is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("x" * 300 + ".png", "has a file name of 304 bytes; file systems take at most 255"),
        ("photos/a\0.png", "holds the control character U+0000"),
    ],
)
def test_inputs_that_cannot_be_read_are_refused(path: str, problem: str) -> None:
    assert input_problem(path) == problem


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "\\\\server\\share\\a.png", "C:\\photos\\a.png", "\\a.png"]
)
def test_absolute_paths_are_told_apart_on_every_platform(path: str) -> None:
    assert is_absolute(path)
    assert not is_absolute("photos/a.png")
    assert not is_absolute("../shared/a.png")


def test_inputs_may_use_names_windows_would_refuse_for_outputs() -> None:
    assert input_problem("photos/a:b.png") is None
    assert input_problem("../shared/logo.png") is None
