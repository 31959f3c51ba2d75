"""``imagebuild show FILE``: where an image came from, read from the file alone.

No manifest or lock is needed, so a copy found far from its project still
explains itself. Files from other tools are explained by their A1111
``parameters``, when they have them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from imagebuild.errors import ImageBuildError

if TYPE_CHECKING:
    from imagebuild.provenance.metadata import Found
    from imagebuild.provenance.origin import Origin
    from imagebuild.provenance.parameters import Parameters

LABEL_WIDTH = 12


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "show", help="print where an image came from"
    )
    parser.add_argument("file", metavar="FILE", help="a PNG, JPEG or WEBP image")
    parser.add_argument("--json", action="store_true", help="print a JSON document on stdout")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    # The readers load only when the command runs: every command builds this parser.
    from imagebuild.provenance.origin import parse_record
    from imagebuild.provenance.parameters import parse_parameters

    shown = arguments.file
    found = _read(Path(shown), shown)
    try:
        origin = parse_record(found.record) if found.record is not None else None
    except ImageBuildError as error:
        raise ImageBuildError(f"{shown}: imagebuild record is not valid: {error}") from None
    parameters = parse_parameters(found.parameters) if found.parameters is not None else None
    if origin is None and parameters is None:
        raise ImageBuildError(f"{shown}: no imagebuild provenance")
    if arguments.json:
        document = to_json(shown, found, origin, parameters)
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif origin is not None:
        print(f"{shown}: {_kind(found)}, made by imagebuild")
        print_origin(origin, sys.stdout)
    else:
        assert parameters is not None
        print(f"{shown}: {_kind(found)}, A1111 parameters written by another tool")
        print_parameters(parameters, sys.stdout)
    return 0


def _read(path: Path, shown: str) -> Found:
    from imagebuild.provenance.reading import read_image

    try:
        return read_image(path)
    except FileNotFoundError:
        raise ImageBuildError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ImageBuildError(f"{shown}: is a folder, not an image") from None
    except OSError as error:
        raise ImageBuildError(f"{shown}: {error.strerror or error}") from None
    except ImageBuildError as error:
        raise ImageBuildError(f"{shown}: {error}") from None


def to_json(
    shown: str, found: Found, origin: Origin | None, parameters: Parameters | None
) -> dict[str, Any]:
    return {
        "file": shown,
        "format": found.format,
        "width": found.width,
        "height": found.height,
        "origin": origin.to_json() if origin is not None else None,
        "parameters": None
        if parameters is None
        else {
            "text": found.parameters,
            "prompt": parameters.prompt,
            "negativePrompt": parameters.negative_prompt,
            "settings": parameters.settings,
        },
    }


def print_origin(origin: Origin, stream: TextIO, indent: str = "  ") -> None:
    rows: list[tuple[str, object]] = [
        (
            "target",
            origin.target if origin.output == 1 else f"{origin.target} (output {origin.output})",
        ),
        ("manifest", origin.manifest),
    ]
    if origin.derived:
        rows.append(("derived", f"from {origin.source}: {_transforms(origin.transform or [])}"))
    else:
        rows += [
            ("provider", origin.provider),
            ("model", origin.model),
            ("prompt", origin.prompt),
            ("negative", origin.negative_prompt),
            ("seed", origin.seed),
            ("steps", origin.steps),
            ("scheduler", origin.scheduler),
            ("CFG scale", origin.cfg_scale),
            ("strength", origin.strength),
            ("clip skip", origin.clip_skip),
        ]
    if origin.preview:
        rows.append(("preview", _preview_note(origin)))
    if origin.width and origin.height:
        rows.append(("size", f"{origin.width}x{origin.height}"))
    rows += [
        ("taskUUID", origin.task_uuid),
        ("imageUUID", origin.image_uuid),
        ("fingerprint", origin.fingerprint),
    ]
    _print_rows(rows, stream, indent)
    if origin.derived:
        if origin.upstream is None:
            print(f"{indent}{origin.source}: its file carried no provenance", file=stream)
        else:
            print(f"{indent}{origin.source}:", file=stream)
            print_origin(origin.upstream, stream, indent + "  ")


def print_parameters(parameters: Parameters, stream: TextIO) -> None:
    rows: list[tuple[str, object]] = [
        ("prompt", parameters.prompt),
        ("negative", parameters.negative_prompt or None),
        *parameters.settings.items(),
    ]
    _print_rows(rows, stream, "  ")


def _print_rows(rows: list[tuple[str, object]], stream: TextIO, indent: str) -> None:
    for label, value in rows:
        if value is not None:
            print(f"{indent}{label:<{LABEL_WIDTH}} {value}", file=stream)


def _kind(found: Found) -> str:
    return f"{found.format} {found.width}x{found.height}"


def _preview_note(origin: Origin) -> str:
    generation = origin.generation
    model = generation.model if generation is not None else None
    stands_in = f" in place of {model}" if model else ""
    return f"yes: a draft drawn by the local renderer{stands_in}, not that model's output"


def _transforms(transforms: list[Any]) -> str:
    """``resize(width=1080, fit=cover); format(type=WEBP)`` from the transform list."""
    steps = []
    for step in transforms:
        if isinstance(step, dict) and len(step) == 1:
            ((name, options),) = step.items()
            if isinstance(options, dict):
                arguments = ", ".join(f"{key}={_value(value)}" for key, value in options.items())
                steps.append(f"{name}({arguments})")
                continue
        steps.append(json.dumps(step, ensure_ascii=False))
    return "; ".join(steps) or "no transforms"


def _value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
