"""Reading registry YAML with the line of every key, so every error can point at its line.

PyYAML's C parser does the parsing; construction stays in Python so that mappings can record
the line of each key and refuse duplicate keys (which plain YAML loaders silently overwrite).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:  # the C parser when PyYAML was built with libyaml (the wheels are)
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python fallback
    _Base = yaml.SafeLoader


class LineDict(dict):
    """A mapping that knows the 1-based line of itself and of each of its keys."""

    __slots__ = ("line", "key_lines")

    def __init__(self, *args: Any, line: int = 0, key_lines: dict[Any, int] | None = None):
        super().__init__(*args)
        self.line = line
        self.key_lines = {} if key_lines is None else key_lines


class LineList(list):
    """A sequence that knows the 1-based line of itself and of each item."""

    __slots__ = ("line", "item_lines")

    def __init__(self, *args: Any, line: int = 0, item_lines: list[int] | None = None):
        super().__init__(*args)
        self.line = line
        self.item_lines = [] if item_lines is None else item_lines


class DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self.flatten_mapping(node)
        lines: dict[Any, int] = {}
        mapping = LineDict(line=node.start_mark.line + 1, key_lines=lines)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError as exc:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    "found a key that cannot be a mapping key", key_node.start_mark,
                ) from exc
            if key in mapping:
                raise DuplicateKey(
                    f"the key {key!r} first set on line {lines[key]}",
                    None,
                    f"is set again on line {key_node.start_mark.line + 1}",
                    key_node.start_mark,
                )
            lines[key] = key_node.start_mark.line + 1
            mapping[key] = self.construct_object(value_node, deep=True)
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        return LineList(
            (self.construct_object(child, deep=True) for child in node.value),
            line=node.start_mark.line + 1,
            item_lines=[child.start_mark.line + 1 for child in node.value],
        )


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


@dataclass(frozen=True)
class ReadError(Exception):
    """A file that could not be read as YAML at all."""

    path: Path
    line: int
    message: str
    hint: str


def read_yaml(path: Path) -> Any:
    """Read one YAML file; raise :class:`ReadError` with a line and a hint, never a traceback."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReadError(path, 0, f"cannot be read: {exc.strerror}", "check the path and its permissions") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ReadError(
            path, line, f"is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8; GBK/GB18030 files must be converted, e.g. iconv -f GB18030 -t UTF-8",
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKey as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ReadError(
            path, line, f"duplicate key: {exc.context} {exc.problem}",
            "remove one of the two; YAML keeps only the last, which hides data",
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ReadError(
            path, line, f"is not valid YAML: {what}",
            "fix the syntax at that line (indentation, a missing colon, an unclosed quote)",
        ) from exc
    except yaml.YAMLError as exc:
        raise ReadError(path, 0, f"is not valid YAML: {exc}", "fix the syntax") from exc
    if data is None:
        raise ReadError(
            path, 1, "is empty",
            "fill it in (see the JSON Schema in schemas/) or delete the file",
        )
    return data


def line_of(data: Any, loc: tuple[Any, ...]) -> int:
    """The line of the deepest element of ``loc`` (a pydantic error location) found in ``data``."""
    line = getattr(data, "line", 0) or 1
    node = data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
