"""PNG: text chunks before the first IDAT, as Pillow and A1111 readers expect."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from imagebuild.provenance.blob import ContainerError
from imagebuild.provenance.origin import parse_record
from imagebuild.provenance.parameters import format_parameters
from tests.provenance.conftest import IMAGES, LATIN_ORIGIN, ORIGIN, embedded, encode, found, picture


def chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, data, stored CRC) of every chunk."""
    offset, result = 8, []
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        result.append((kind, body, crc))
        offset += 12 + length
    return result


def test_pillow_reads_the_parameters_and_the_record() -> None:
    with Image.open(io.BytesIO(embedded(IMAGES["png"]()))) as image:
        assert image.info["parameters"] == format_parameters(ORIGIN)
        assert parse_record(image.info["imagebuild"]) == ORIGIN
        image.verify()


def test_chunks_sit_before_the_first_idat_with_correct_crcs() -> None:
    listed = chunks(embedded(IMAGES["png"]()))
    kinds = [kind for kind, _, _ in listed]
    first_idat = kinds.index(b"IDAT")
    assert kinds[first_idat - 2 : first_idat] == [b"iTXt", b"iTXt"]
    for kind, body, crc in listed:
        assert zlib.crc32(kind + body) == crc, kind


def test_latin1_parameters_are_plain_text_and_the_rest_utf8() -> None:
    latin = {
        body.split(b"\0")[0]: kind
        for kind, body, _ in chunks(embedded(IMAGES["png"](), LATIN_ORIGIN))
    }
    assert latin == {**latin, b"parameters": b"tEXt", b"imagebuild": b"iTXt"}
    unicode = {body.split(b"\0")[0]: kind for kind, body, _ in chunks(embedded(IMAGES["png"]()))}
    assert unicode[b"parameters"] == b"iTXt"
    with Image.open(io.BytesIO(embedded(IMAGES["png"](), LATIN_ORIGIN))) as image:
        assert image.info["parameters"].startswith("café crème, à Paris\n")


def test_other_text_chunks_stay_and_old_ones_of_ours_go_even_after_idat() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "a painting program")
    info.add_text("parameters", "an old prompt\nSteps: 20, Sampler: Euler, Seed: 1", zip=True)
    data = encode(picture(), "PNG", pnginfo=info)
    iend = data.rindex(b"IEND") - 4
    late = _chunk(b"tEXt", b"imagebuild\0{}")
    data = data[:iend] + late + data[iend:]
    result = embedded(data)
    keywords = [
        body.split(b"\0")[0]
        for kind, body, _ in chunks(result)
        if kind in (b"tEXt", b"zTXt", b"iTXt")
    ]
    assert sorted(keywords) == [b"Software", b"imagebuild", b"parameters"]
    with Image.open(io.BytesIO(result)) as image:
        image.load()
        assert image.info["Software"] == "a painting program"
        assert image.info["parameters"] == format_parameters(ORIGIN)


def test_a1111_parameters_written_by_pillow_are_read_compressed_or_not() -> None:
    text = "a fox\nNegative prompt: blur\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1"
    for compressed in (False, True):
        info = PngImagePlugin.PngInfo()
        info.add_itxt("parameters", text, zip=compressed)
        result = found(encode(picture(), "PNG", pnginfo=info))
        assert (result.parameters, result.record) == (text, None)


def test_a_png_without_image_data_is_refused() -> None:
    data = IMAGES["png"]()
    listed = [(kind, body) for kind, body, _ in chunks(data) if kind != b"IDAT"]
    broken = data[:8] + b"".join(_chunk(kind, body) for kind, body in listed)
    with pytest.raises(ContainerError, match="no IDAT"):
        embedded(broken)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
