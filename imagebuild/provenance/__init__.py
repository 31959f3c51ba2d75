"""Provenance inside every output: where an image came from, read from the file alone.

    PNG    tEXt/iTXt ``parameters`` (A1111's text), iTXt ``imagebuild`` (the record)
    JPEG   APP1 Exif (UserComment: parameters; ImageDescription: the record), APP1 XMP
    WEBP   the same Exif and XMP in ``EXIF`` and ``XMP `` chunks of an extended file

Metadata is spliced into the container, never re-encoded, so the pixels are
exactly those delivered, and it holds no time or version: the same origin and
the same image give the same file, byte for byte.

    origin      the record (a dataclass, and its JSON)
    parameters  A1111's ``parameters`` text, written and parsed
    png, jpeg, webp   one writer and reader per container; exif: what JPEG and WEBP share
    stamp       the executor's side: the origin of a finished step, embedded
    reading     the other side: what a file says, for ``imagebuild show``
"""
