"""EXIF and XMP, the metadata JPEG and WEBP share.

EXIF: the A1111 ``parameters`` in the Exif IFD's UserComment (where A1111
writes them for JPEG and WEBP) and the record as ASCII JSON in IFD0's
ImageDescription. The block is built by Pillow, merged into the file's
existing EXIF so that its other tags (Orientation above all) survive, and
written big-endian: A1111 and piexif read a Unicode UserComment as UTF-16BE
whatever the byte order, exiftool by the byte order, and so both agree.

XMP: the record as ``imagebuild:origin`` in an ``rdf:Description`` of its own.
A packet another tool wrote keeps its descriptions (an IPTC source type, a
rights notice); only imagebuild's own is replaced.
"""

from __future__ import annotations

import html
import re
import struct

from imagebuild.provenance.metadata import Metadata

IMAGE_DESCRIPTION = 0x010E
EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
_ASCII = b"ASCII\0\0\0"
_UNICODE = b"UNICODE\0"
_CHARSET_LENGTH = 8

NAMESPACE = "https://imagebuild.dev/ns/1.0/"
XMP_HEAD = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
)
XMP_TAIL = '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
_DESCRIPTION_HEAD = f'<rdf:Description rdf:about="" xmlns:imagebuild="{NAMESPACE}">'
_OWN_DESCRIPTION = re.compile(re.escape(_DESCRIPTION_HEAD) + ".*?</rdf:Description>", re.DOTALL)
_RDF_END = "</rdf:RDF>"


def exif_block(existing: bytes | None, metadata: Metadata) -> bytes:
    """TIFF-structured EXIF (without JPEG's ``Exif\\0\\0`` prefix)."""
    from PIL import Image

    exif = Image.Exif()
    if existing:
        exif.load(existing)
    exif.endian = ">"
    exif[IMAGE_DESCRIPTION] = metadata.origin.canonical_ascii()
    sub = exif.get_ifd(EXIF_IFD)
    if metadata.parameters is None:
        sub.pop(USER_COMMENT, None)
    elif metadata.parameters.isascii():
        sub[USER_COMMENT] = _ASCII + metadata.parameters.encode("ascii")
    else:
        sub[USER_COMMENT] = _UNICODE + metadata.parameters.encode("utf-16-be")
    return exif.tobytes()[len(b"Exif\0\0") :]


def read_exif(block: bytes) -> tuple[str | None, str | None]:
    """(record, parameters) from an EXIF block, with or without its prefix."""
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(block)
        description = exif.get(IMAGE_DESCRIPTION)
        comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error):
        return None, None
    record = description if isinstance(description, str) and description.startswith("{") else None
    return record, _user_comment(comment, exif.endian)


def xmp_packet(existing: bytes | None, metadata: Metadata) -> bytes:
    own = (
        _DESCRIPTION_HEAD
        + "<imagebuild:origin>"
        + html.escape(metadata.origin.canonical().decode(), quote=False)
        + "</imagebuild:origin></rdf:Description>"
    )
    text = existing.decode("utf-8", "replace") if existing else ""
    if _RDF_END not in text:
        return (XMP_HEAD + own + XMP_TAIL).encode()
    text = _OWN_DESCRIPTION.sub("", text)
    at = text.rindex(_RDF_END)
    return (text[:at] + own + text[at:]).encode()


def read_xmp(packet: bytes) -> str | None:
    """The record in an XMP packet, as an element or, rewritten by another
    tool, as an attribute of its description."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(packet.decode("utf-8").strip("\0 \t\r\n"))
    except (ElementTree.ParseError, UnicodeDecodeError):
        return None
    key = f"{{{NAMESPACE}}}origin"
    for element in root.iter():
        if element.tag == key and element.text:
            return element.text
        if key in element.attrib:
            return element.attrib[key]
    return None


def _user_comment(comment: object, endian: str | None) -> str | None:
    if not isinstance(comment, bytes) or len(comment) < _CHARSET_LENGTH:
        return None
    charset, text = comment[:_CHARSET_LENGTH], comment[_CHARSET_LENGTH:]
    if charset == _UNICODE:
        return text.decode("utf-16-le" if endian == "<" else "utf-16-be", "replace")
    return text.decode("utf-8", "replace").rstrip("\0")
