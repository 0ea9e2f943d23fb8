"""Reading user files (argument structures, config files) with one-line errors.

Every problem becomes an `InputError` naming the file and, where there is one, the field
(`claims[1].evidence`), so the CLI can print one line and exit with code 2. Files are
checked for size before they are read, for UTF-8 before they are parsed, and YAML mappings
with a repeated key are refused rather than silently keeping the last value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from paracycle.errors import InputError
from paracycle.schemas import ArgumentStructure

MAX_INPUT_BYTES = 5 * 1024 * 1024
M = TypeVar("M", bound=BaseModel)


def load_structure(path: str | Path) -> ArgumentStructure:
    if read_mapping(path).get("kind") == "round":
        raise InputError(str(path), "this is a round config (kind: round), not an argument structure; use `paracycle round --config`")
    return load_model(path, ArgumentStructure)


STRUCTURE_SUFFIXES = (".yaml", ".yml", ".json")


def structure_files(inputs: list[Path]) -> list[Path]:
    """Files as given; directories expand to their structure files. A file in a directory that
    declares `kind: round` is a round config (see `paracycle round`), not a structure: skipped."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in STRUCTURE_SUFFIXES and p.is_file())
            found = [p for p in found if read_mapping(p).get("kind") != "round"]
            if not found:
                raise InputError(str(item), "no argument structures (*.yaml, *.yml, *.json) in this directory")
            files.extend(found)
        else:
            files.append(item)
    return files


def load_model(path: str | Path, model: type[M]) -> M:
    source = str(path)
    data = read_mapping(path)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise InputError(source, *_describe(err)) from None


def read_mapping(path: str | Path) -> dict[str, Any]:
    text = read_text(path)
    source = str(path)
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(source, f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    else:
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InputError(source, f"invalid YAML{where}: {err.problem or err}") from None
        except yaml.YAMLError as err:
            raise InputError(source, f"invalid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(source, f"expected a mapping of fields at the top level, found {_kind(data)}")
    return data


def read_text(path: str | Path, max_bytes: int = MAX_INPUT_BYTES) -> str:
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(source, "file not found")
    if not p.is_file():
        raise InputError(source, "not a regular file")
    size = p.stat().st_size
    if size > max_bytes:
        raise InputError(source, f"file is {size / 2**20:.1f} MB, larger than {max_bytes / 2**20:.0f} MB (the limit)")
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise InputError(source, f"cannot read file ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(source, f"file is not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    if not text.strip():
        raise InputError(source, "file is empty")
    return text.lstrip("\ufeff")


def _describe(err: ValidationError) -> tuple[str, str | None]:
    """(message, field) for the first validation problem, with a count of the rest."""
    # An unknown key is usually a typo that also causes the "missing" error: report it first.
    first = sorted(err.errors(), key=lambda e: e.get("type") != "extra_forbidden")[0]
    field = _field_path(first.get("loc", ()))
    kind = first.get("type")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "missing required field"
    else:
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.error_count() > 1:
        message += f" (and {err.error_count() - 1} more problems)"
    return message, field or None


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"repeated key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)
