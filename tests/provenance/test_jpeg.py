"""JPEG: Exif and XMP segments after SOI and APP0, the scan untouched."""

from __future__ import annotations

import dataclasses
import io
import struct

import pytest
from PIL import ExifTags, Image

from imagebuild.provenance.blob import ContainerError
from imagebuild.provenance.exif import NAMESPACE
from imagebuild.provenance.origin import parse_record
from imagebuild.provenance.parameters import format_parameters
from tests.provenance.conftest import IMAGES, LATIN_ORIGIN, ORIGIN, embedded, encode, found, picture


def markers(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, first payload bytes) of every segment before the scan."""
    offset, result = 2, []
    while data[offset + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        result.append((data[offset + 1], data[offset + 4 : offset + 10]))
        offset += 2 + length
    return result


def test_pillow_reads_exif_and_xmp() -> None:
    with Image.open(io.BytesIO(embedded(IMAGES["jpeg"]()))) as image:
        exif = image.getexif()
        assert parse_record(exif[ExifTags.Base.ImageDescription]) == ORIGIN
        comment = exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment]
        assert comment == b"UNICODE\0" + format_parameters(ORIGIN).encode("utf-16-be")
        assert f'xmlns:imagebuild="{NAMESPACE}"'.encode() in image.info["xmp"]


def test_ascii_parameters_are_an_ascii_user_comment() -> None:
    ascii_origin = dataclasses.replace(LATIN_ORIGIN, prompt="a cafe in Paris")
    with Image.open(io.BytesIO(embedded(IMAGES["jpeg"](), ascii_origin))) as image:
        comment = image.getexif().get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment]
    assert comment == b"ASCII\0\0\0" + format_parameters(ascii_origin).encode()


def test_segments_follow_soi_and_jfif_and_nothing_else_moves() -> None:
    original = IMAGES["jpeg"]()
    result = embedded(original)
    before, after = markers(original), markers(result)
    assert before[0] == (0xE0, b"JFIF\0\x01")
    assert after[0] == before[0]
    assert after[1] == (0xE1, b"Exif\0\0")
    assert after[2] == (0xE1, b"http:/")
    assert after[3:] == before[1:]
    scan = original.index(b"\xff\xda")
    assert result.endswith(original[scan:])


def test_existing_exif_tags_survive_and_an_orientation_still_turns_the_image() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "a camera"
    data = encode(picture(), "JPEG", exif=exif)
    with Image.open(io.BytesIO(embedded(data))) as image:
        kept = image.getexif()
        assert (kept[ExifTags.Base.Orientation], kept[ExifTags.Base.Make]) == (6, "a camera")
        assert parse_record(kept[ExifTags.Base.ImageDescription]) == ORIGIN


def test_a_foreign_xmp_description_is_kept_beside_ours() -> None:
    foreign = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        b' Iptc4xmpExt:DigitalSourceType="trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>'
    )
    data = encode(picture(), "JPEG", xmp=foreign)
    once = embedded(data)
    twice = embedded(once, dataclasses.replace(ORIGIN, seed=9))
    with Image.open(io.BytesIO(twice)) as image:
        packet = image.info["xmp"]
    assert b"trainedAlgorithmicMedia" in packet
    assert packet.count(NAMESPACE.encode()) == 1
    record = found(twice).record
    assert record is not None and parse_record(record).seed == 9


def test_parameters_of_another_tool_are_read_in_either_byte_order() -> None:
    text = "a fox\nSteps: 20, Sampler: Euler a, Seed: 5, Size: 96x64"
    for endian, encoding in ((">", "utf-16-be"), ("<", "utf-16-le")):
        exif = Image.Exif()
        exif.endian = endian
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = b"UNICODE\0" + text.encode(
            encoding
        )
        result = found(encode(picture(), "JPEG", exif=exif))
        assert (result.parameters, result.record) == (text, None)


def test_metadata_too_large_for_a_segment_is_refused() -> None:
    huge = dataclasses.replace(ORIGIN, negative_prompt="blur " * 20000)
    with pytest.raises(ContainerError, match="do not fit a JPEG segment"):
        embedded(IMAGES["jpeg"](), huge)
