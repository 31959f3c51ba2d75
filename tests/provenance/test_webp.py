"""WEBP: simple files become extended ones, with the right flags, canvas and RIFF size."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import ExifTags, Image

from imagebuild.provenance.exif import NAMESPACE
from imagebuild.provenance.origin import parse_record
from imagebuild.provenance.parameters import format_parameters
from imagebuild.provenance.webp import ALPHA_FLAG, EXIF_FLAG, XMP_FLAG
from tests.provenance.conftest import IMAGES, ORIGIN, embedded, encode, picture


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    offset, result = 12, []
    while offset < len(data):
        fourcc, size = struct.unpack("<4sI", data[offset : offset + 8])
        result.append((fourcc, data[offset + 8 : offset + 8 + size]))
        offset += 8 + size + (size & 1)
    return result


def vp8x(data: bytes) -> tuple[int, int, int]:
    fourcc, header = riff_chunks(data)[0]
    assert fourcc == b"VP8X"
    width = int.from_bytes(header[4:7], "little") + 1
    return header[0], width, int.from_bytes(header[7:10], "little") + 1


@pytest.mark.parametrize(
    ("kind", "first", "alpha"),
    [
        ("webp-lossy", b"VP8 ", 0),
        ("webp-lossless", b"VP8L", ALPHA_FLAG),
        ("webp-extended", b"VP8X", ALPHA_FLAG),
    ],
)
def test_the_file_becomes_extended_with_flags_canvas_and_size(
    kind: str, first: bytes, alpha: int
) -> None:
    original = IMAGES[kind]()
    assert riff_chunks(original)[0][0] == first
    result = embedded(original)
    assert vp8x(result) == (alpha | EXIF_FLAG | XMP_FLAG, 96, 64)
    assert struct.unpack("<I", result[4:8])[0] == len(result) - 8
    fourccs = [fourcc for fourcc, _ in riff_chunks(result)]
    assert fourccs[-2:] == [b"EXIF", b"XMP "]
    assert fourccs.count(b"EXIF") == fourccs.count(b"XMP ") == 1


@pytest.mark.parametrize("kind", ["webp-lossy", "webp-lossless", "webp-extended"])
def test_pillow_reads_exif_and_xmp(kind: str) -> None:
    with Image.open(io.BytesIO(embedded(IMAGES[kind]()))) as image:
        exif = image.getexif()
        assert parse_record(exif[ExifTags.Base.ImageDescription]) == ORIGIN
        comment = exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment]
        assert comment == b"UNICODE\0" + format_parameters(ORIGIN).encode("utf-16-be")
        assert NAMESPACE.encode() in image.info["xmp"]
        image.load()


def test_an_exif_chunk_written_by_pillow_is_merged_not_doubled() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = "a painter"
    data = encode(picture(), "WEBP", exif=exif)
    result = embedded(data)
    assert [fourcc for fourcc, _ in riff_chunks(result)].count(b"EXIF") == 1
    with Image.open(io.BytesIO(result)) as image:
        kept = image.getexif()
        assert kept[ExifTags.Base.Artist] == "a painter"
        assert parse_record(kept[ExifTags.Base.ImageDescription]) == ORIGIN
