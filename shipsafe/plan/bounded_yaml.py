"""Read untrusted YAML (plans, policies) within fixed bounds, or say where it breaks them.

Whatever the file holds, reading it ends in data or in a `YamlLimit` naming the line:

    size        at most MAX_BYTES bytes, UTF-8 (a bad byte is reported with its line)
    depth       at most MAX_DEPTH nested mappings and sequences
    expansion   at most MAX_NODES nodes once aliases are expanded (billion laughs)
    recursion   an alias inside the node it names is refused
    keys        mapping keys are plain scalars (a list or mapping as a key is refused)
    tags        only the plain mapping, sequence and scalar tags of the YAML core schema

The bounds are checked on the parser's event stream (which PyYAML produces without
recursion) before anything is composed, so neither memory nor the stack can run away.
"""

from __future__ import annotations

from typing import Any

import yaml

from shipsafe.errors import YamlLimit

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 20_000

PathKey = tuple[Any, ...]

# libyaml when PyYAML was built with it: the pure-Python scanner needs about 2 s for a
# megabyte of blank lines on a busy machine, libyaml a tenth of that
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def decode(raw: bytes) -> str:
    """The text of a file's bytes, if it is small enough and UTF-8."""
    if len(raw) > MAX_BYTES:
        raise YamlLimit(
            f"the file is {len(raw)} bytes; the limit is {MAX_BYTES} bytes", 1
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlLimit(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded", line
        ) from None


def compose(text: str) -> yaml.Node | None:
    """The node graph of one YAML document, after checking every bound on its events."""
    if len(text) > MAX_BYTES:
        raise YamlLimit(f"the text is {len(text)} characters; the limit is {MAX_BYTES}", 1)
    try:
        _check_events(text)
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise _located(exc, text) from None


def _check_events(text: str) -> None:
    # sizes[i]: nodes, aliases expanded, inside the i-th open collection (itself included)
    sizes: list[int] = [0]
    anchors: list[str | None] = [None]
    anchored: dict[str, int] = {}
    total = 0
    for event in yaml.parse(text, Loader=_LOADER):
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.CollectionEndEvent):
            size = sizes.pop()
            anchor = anchors.pop()
            sizes[-1] += size
            if anchor is not None:
                anchored[anchor] = size
            continue
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in anchors:
                raise YamlLimit(f"the alias *{event.anchor} is inside its own anchor", line)
            grown = anchored.get(str(event.anchor), 1)
            sizes[-1] += grown
        elif isinstance(event, yaml.ScalarEvent):
            grown = 1
            sizes[-1] += 1
            if event.anchor is not None:
                anchored[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(sizes) > MAX_DEPTH:
                raise YamlLimit(f"nested deeper than {MAX_DEPTH} levels", line)
            grown = 1
            sizes.append(1)
            anchors.append(event.anchor)
        else:
            continue
        total += grown
        if total > MAX_NODES:
            raise YamlLimit(
                f"more than {MAX_NODES} values (aliases counted expanded)", line
            )


def _located(exc: yaml.YAMLError, text: str) -> YamlLimit:
    mark = getattr(exc, "problem_mark", None)
    position = getattr(exc, "position", None)  # ReaderError: a character YAML forbids
    if mark is not None:
        line: int | None = mark.line + 1
    elif isinstance(position, int):
        line = text[:position].count("\n") + 1
    else:
        line = 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if problem == "second occurrence" and context:  # the composer's duplicate anchor
        problem = str(context).split(";")[0]
    if isinstance(exc, yaml.reader.ReaderError):
        problem = f"unacceptable character #x{exc.character:04x}"
    return YamlLimit(f"not valid YAML: {problem}", line)


class Located:
    """YAML data plus the line of every key and item, by path."""

    def __init__(self) -> None:
        self.lines: dict[PathKey, int] = {}
        self.duplicates: list[tuple[PathKey, int]] = []
        self._open: set[int] = set()

    def build(self, node: yaml.Node, path: PathKey = ()) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node, line)
        if node.tag not in _PLAIN_TAGS:
            raise YamlLimit(f"not valid YAML: unsupported tag {node.tag!r}", line)
        if id(node) in self._open:  # compose() already refuses these; a second guard
            raise YamlLimit("an alias refers to a node that contains it", line)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlLimit("a key must be a plain value, not a list or mapping", key_line)
            key = _scalar(key_node, key_line)
            try:
                hash(key)
            except TypeError:
                raise YamlLimit("a key must be a plain value", key_line) from None
            child = (*path, key)
            if key in out:
                self.duplicates.append((child, key_line))
            self.lines[child] = key_line
            out[key] = self.build(value_node, child)
        return out

    def line_of(self, path: PathKey) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _scalar(node: yaml.ScalarNode, line: int) -> Any:
    try:
        return yaml.SafeLoader("").construct_object(node)  # scalars only: safe
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlLimit(f"not valid YAML: {problem}", line) from None
    except Exception:  # PyYAML's scalar constructors raise whatever their parsing meets:
        # `!!int abc`, `!!int ` (IndexError), `!!timestamp 2026-13-45`, `!!bool maybe`,
        # 5,000-digit integers
        kind = node.tag.rsplit(":", 1)[-1]
        raise YamlLimit(f"the value cannot be read as {kind}", line) from None
