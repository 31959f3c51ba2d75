"""What a file path written in a manifest may be, checked before anything is spent.

An output path that no file system takes (a NUL byte, a 300-byte name,
``CON.png`` on Windows) fails only when the image is written, after it was
paid for; a build that resumes the task fails the same way again. Outputs
must be portable, because the same manifest builds on Linux, macOS and
Windows; inputs only need to be readable here.
"""

from __future__ import annotations

import re
from pathlib import PureWindowsPath

# One file name, in bytes: ext4, APFS and NTFS all stop at 255.
NAME_BYTES = 255
PATH_CHARACTERS = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = re.compile(r"[\\/]")
_DEVICE = r"(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(?:\.[^\\/]*)?"
_WINDOWS_RESERVED = re.compile(_DEVICE + r"\Z", re.I)
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
# Anything any check below could object to; most paths have none of it and
# are short enough that no name in them can reach 255 bytes.
_SUSPECT = re.compile(
    r'[\x00-\x1f\x7f<>:"|?*]|[. ](?:[\\/]|\Z)|(?:\A|[\\/])' + _DEVICE + r"(?:[\\/]|\Z)", re.I
)
_SHORT = NAME_BYTES // 4


def input_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file to read here, or None; which folders
    inputs may come from is the caller's business."""
    return _readable_problem(path)


def is_absolute(path: str) -> bool:
    """Absolute on any platform: ``/x``, ``\\\\server\\share``, ``C:\\x``."""
    return PureWindowsPath(path).is_absolute() or path.startswith(("/", "\\"))


def output_problem(path: str) -> str | None:
    """Why ``path`` cannot name an output on every platform, or None."""
    if len(path) <= _SHORT and _SUSPECT.search(path) is None:
        return None
    problem = _readable_problem(path)
    if problem is not None:
        return problem
    for name in _SEPARATORS.split(path):
        if _WINDOWS_RESERVED.match(name):
            return f"uses '{name}', a device name on Windows"
        forbidden = sorted(_WINDOWS_FORBIDDEN.intersection(name))
        if forbidden:
            return f"holds {' '.join(forbidden)}, which Windows refuses in file names"
        if name.endswith((".", " ")) and name not in (".", ".."):
            return f"has '{name}', ending in a dot or space, which Windows drops"
    return None


def _readable_problem(path: str) -> str | None:
    control = _CONTROL.search(path)
    if control is not None:
        return f"holds the control character U+{ord(control[0]):04X}"
    if len(path) > PATH_CHARACTERS:
        return f"is {len(path):,} characters long; paths are at most {PATH_CHARACTERS:,}"
    for name in _SEPARATORS.split(path):
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > NAME_BYTES:
            return f"has a file name of {size:,} bytes; file systems take at most {NAME_BYTES}"
    return None
