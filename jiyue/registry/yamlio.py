"""Reading registry YAML with the line of every key, so every error can point at its line.

PyYAML's C parser does the parsing; construction stays in Python so that mappings can record
the line of each key and refuse what plain YAML loaders let through:

- duplicate keys (plain loaders silently keep the last);
- aliases (``*name``) that repeat more than :data:`MAX_ALIASED` values in all: a few nested aliases
  expand into more data than memory holds ("billion laughs"); a hand-written registry needs none,
  a dumped one repeats a list here and there; an alias of a value that holds it is refused too;
- nesting deeper than :data:`MAX_DEPTH` (the registry's deepest value is seven levels down);
- impossible dates written unquoted (``2017-02-30``): kept as text, so that the schema reports
  them at their field like any other bad date.
"""

from __future__ import annotations

import errno
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


#: how deep mappings and lists may nest in one file
MAX_DEPTH = 32
#: how many values (scalars, mappings, lists) the aliases of one file may repeat in all
MAX_ALIASED = 10_000


def _dotted(at: list[Any]) -> str:
    """``systems[0].funds``: the first eight steps of a path of keys and indexes."""
    shown = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in at[:8]).lstrip(".")
    return shown + ("..." if len(at) > 8 else "")


class DuplicateKey(yaml.MarkedYAMLError):
    field = ""


class Refused(yaml.MarkedYAMLError):
    """Valid YAML that a registry or waiver file may not hold (an alias, too deep a nesting)."""

    def __init__(self, problem: str, mark: yaml.Mark, hint: str, at: list[Any]):
        super().__init__(None, None, problem, mark, hint)
        self.field = _dotted(at)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def __init__(self, stream: Any):
        super().__init__(stream)
        self.at: list[Any] = []  # the keys and indexes down to the value being constructed
        self.aliased = 0  # values repeated by aliases so far
        self.sizes: dict[int, int] = {}  # node id -> values in it, each shared node counted once

    def _child(self, node: yaml.Node, mark: yaml.Mark) -> Any:
        """Construct one key, value or item; an alias (a node constructed already) counts the values
        it repeats against :data:`MAX_ALIASED`. ``mark`` is where it is used (an alias node is the
        anchored node itself, whose own mark is the anchor's)."""
        if node in self.recursive_objects:
            raise Refused("uses an alias (*name) of a value that holds the alias itself", mark,
                          "write the value out in full", self.at)
        if node in self.constructed_objects:
            self.aliased += self._size(node)
            if self.aliased > MAX_ALIASED:
                raise Refused(f"has aliases (*name) that repeat more than {MAX_ALIASED} values", mark,
                              "write the values out; this file's aliases expand without bound", self.at)
        return self.construct_object(node, deep=True)

    def _size(self, node: yaml.Node) -> int:
        """The values an alias of ``node`` repeats, as a tree; stops counting past the limit (the
        tree of a few nested aliases is exponentially larger than the file)."""
        if isinstance(node, yaml.ScalarNode):
            return 1
        if id(node) not in self.sizes:
            children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
            total = 1
            for child in children:
                total += self._size(child)
                if total > MAX_ALIASED:
                    break
            self.sizes[id(node)] = total
        return self.sizes[id(node)]

    def _nest(self, node: yaml.Node) -> None:
        if len(self.at) >= MAX_DEPTH:
            raise Refused(f"nests mappings and lists more than {MAX_DEPTH} levels deep", node.start_mark,
                          "flatten the data; see the JSON Schema in schemas/ for its shape", self.at)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self._nest(node)
        self.flatten_mapping(node)
        lines: dict[Any, int] = {}
        mapping = LineDict(line=node.start_mark.line + 1, key_lines=lines)
        for key_node, value_node in node.value:
            key = self._child(key_node, key_node.start_mark)
            try:
                hash(key)
            except TypeError as exc:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    "found a key that cannot be a mapping key", key_node.start_mark,
                ) from exc
            if key in mapping:
                dup = DuplicateKey(
                    f"the key {key!r} first set on line {lines[key]}",
                    None,
                    f"is set again on line {key_node.start_mark.line + 1}",
                    key_node.start_mark,
                )
                dup.field = _dotted([*self.at, key])
                raise dup
            lines[key] = key_node.start_mark.line + 1
            self.at.append(key)
            mapping[key] = self._child(value_node, key_node.start_mark)
            self.at.pop()
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        self._nest(node)
        items = []
        for i, child in enumerate(node.value):
            self.at.append(i)
            items.append(self._child(child, child.start_mark if child not in self.constructed_objects
                                     else node.start_mark))
            self.at.pop()
        return LineList(items, line=node.start_mark.line + 1,
                        item_lines=[child.start_mark.line + 1 for child in node.value])

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:  # 2017-02-30, 2019-13-01: the schema says which field and why
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


@dataclass(frozen=True)
class ReadError(Exception):
    """A file that could not be read as YAML at all."""

    path: Path
    line: int
    message: str
    hint: str
    field: str = ""


def read_yaml(path: Path, *, empty_ok: bool = False) -> Any:
    """Read one YAML file; raise :class:`ReadError` with a line and a hint, never a traceback.
    An empty file is an error unless ``empty_ok`` (then None)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        hint = ("a symbolic link on the way leads back to itself; point it at a real file"
                if exc.errno == errno.ELOOP else "check the path and its permissions")
        raise ReadError(path, 0, f"cannot be read: {exc.strerror}", hint) from exc
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
            "remove one of the two; YAML keeps only the last, which hides data", exc.field,
        ) from exc
    except Refused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ReadError(path, line, str(exc.problem), str(exc.note), exc.field) from exc
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
    if data is None and not empty_ok:
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
