"""Reading user files (argument structures, config files) with one-line errors.

Every problem becomes an `InputError` naming the file and, where there is one, the field
(`claims[1].evidence`), so the CLI can print one line and exit with code 2. Files are
checked for size before they are read, for UTF-8 before they are parsed, and YAML mappings
with a repeated key are refused rather than silently keeping the last value.

The size check bounds what a file can cost only because the parsers are kept from
multiplying it: YAML anchors and aliases are refused (a 1 MB "billion laughs" file expands
to gigabytes), nesting deeper than MAX_NESTING is refused (instead of a RecursionError),
and so are keys that are lists or mappings and integers too long for Python's int(). What
remains is bounded field by field by the pydantic models (`paracycle.schemas.MAX_TEXT`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from paracycle.errors import InputError
from paracycle.schemas import ArgumentStructure

MAX_INPUT_BYTES = 5 * 1024 * 1024
# Mappings and lists inside each other; a structure or config needs 4 levels.
MAX_NESTING = 50
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
    data = _parse_json(text, source) if Path(path).suffix.lower() == ".json" else _parse_yaml(text, source)
    if not isinstance(data, dict):
        raise InputError(source, f"expected a mapping of fields at the top level, found {_kind(data)}")
    return data


def _parse_json(text: str, source: str) -> Any:
    try:
        data = json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as err:
        raise InputError(source, f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except _IntegerTooLong as err:
        raise InputError(source, f"invalid JSON: {err}") from None
    except RecursionError:  # the C decoder nests as deep as the recursion limit allows
        raise InputError(source, f"invalid JSON: nested more than {MAX_NESTING} levels deep") from None
    if _depth(data) > MAX_NESTING:
        raise InputError(source, f"invalid JSON: nested more than {MAX_NESTING} levels deep")
    return data


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(source, f"invalid YAML{where}: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise InputError(source, f"invalid YAML: {str(err).splitlines()[0]}") from None


class _IntegerTooLong(ValueError):
    pass


def _json_int(digits: str) -> int:
    # int() refuses more than sys.get_int_max_str_digits() digits with a ValueError that
    # json.loads would pass on as is; no field needs a number anywhere near that long.
    count, limit = len(digits.lstrip("-")), sys.get_int_max_str_digits()
    if count > limit > 0:
        raise _IntegerTooLong(f"a number with {count} digits is too long")
    return int(digits)


def _depth(data: Any) -> int:
    """How deeply lists and mappings nest in parsed JSON (without recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


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
        path += f"[{part}]" if isinstance(part, int) else (f".{_key(part)}" if path else _key(part))
    return path


def _key(part: Any) -> str:
    """A key from the file as shown in an error: printable (repr) and short, since an
    unknown key is the file's own text and goes straight to the user's terminal."""
    text = str(part)
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader without what no paracycle file needs: anchors and aliases, nesting deeper
    than MAX_NESTING, repeated keys, keys that are lists or mappings, and integers too
    long for int(). Each is a one-line error with the line and column."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            # Refused, not expanded: each alias copies its anchor's value, so a few nested
            # ones turn a small file into billions of nodes ("billion laughs").
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name) are not allowed; write the value out", event.start_mark
            )
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_NESTING} levels deep", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not _hashable(key):  # YAML allows "? [a, b]: 1"; a Python dict does not
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a name, not a list or mapping", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"repeated key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    try:
        return loader.construct_yaml_int(node)
    except ValueError:  # more digits than int() accepts (sys.get_int_max_str_digits())
        digits = sum(c.isdigit() for c in node.value)
        raise yaml.constructor.ConstructorError(
            None, None, f"a number with {digits} digits is too long", node.start_mark
        ) from None


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
