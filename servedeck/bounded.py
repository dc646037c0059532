"""Bounded parsing of input from outside: JSON and YAML with caps on size, depth and
alias expansion, and capped file reads.

Files, command output and HTTP replies come from programs servedeck does not control.
A parser that recurses, a document that nests 100,000 levels deep or a YAML alias bomb
would otherwise raise RecursionError (a traceback) or grow memory without bound; here
each becomes one `InputRejected` line saying what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 64  # deepest nesting any servedeck input legitimately has is ~8
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000  # values after expanding aliases
MIB = 1024 * 1024


class InputRejected(ValueError):
    """The input is too large, too deep or not parseable; str() is one line."""


def size_text(n: int) -> str:
    return f"{n / MIB:.1f} MB" if n >= MIB else f"{n / 1024:.0f} kB" if n >= 1024 else f"{n} bytes"


def check_size(length: int, max_bytes: int, what: str) -> None:
    if length > max_bytes:
        raise InputRejected(f"{what} is {size_text(length)}, over the {size_text(max_bytes)} limit; not read")


def read_bytes(path: Path, max_bytes: int, what: str = "the file") -> bytes:
    """The file's bytes, or InputRejected when it is bigger than `max_bytes` (never reads more)."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            handle.seek(0, 2)
            check_size(handle.tell(), max_bytes, what)
    return data


def read_text(path: Path, max_bytes: int, what: str = "the file") -> str:
    """The file's text (undecodable bytes replaced), capped like `read_bytes`."""
    return read_bytes(path, max_bytes, what).decode("utf-8", errors="replace")


def check_depth(value: Any, max_depth: int = MAX_DEPTH, what: str = "the document") -> None:
    """Raise when containers nest deeper than `max_depth` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise InputRejected(f"{what} nests deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def reject_constant(name: str) -> Any:
    """json's parse_constant: NaN and Infinity are not JSON, and break arithmetic later."""
    raise ValueError(f"{name} is not a number JSON allows")


def loads_json(text: str | bytes, *, what: str = "the JSON", max_bytes: int = 64 * MIB,
               max_depth: int = MAX_DEPTH) -> Any:
    """json.loads with a size cap, a depth cap and no NaN/Infinity; InputRejected otherwise."""
    check_size(len(text), max_bytes, what)
    try:
        value = json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise InputRejected(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InputRejected(f"{what} nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputRejected(f"{what} is not valid JSON: {exc}") from None
    check_depth(value, max_depth, what)
    return value


class BoundedComposer(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting, many aliases and alias bombs, with
    the mark of the node where the limit was reached."""

    max_depth = MAX_DEPTH
    max_aliases = MAX_YAML_ALIASES
    max_nodes = MAX_YAML_NODES

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def fetch_flow_collection_start(self, TokenClass):
        # The scanner reads a whole flow collection ahead before the composer sees its
        # first node: refuse the 65th `[`/`{` here, or 4 MB of `[` costs seconds.
        if self.flow_level >= self.max_depth:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {self.max_depth} levels",
                                            self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.max_aliases:
                raise yaml.composer.ComposerError(None, None, f"more than {self.max_aliases} aliases", event.start_mark)
        self._depth += 1
        if self._depth > self.max_depth:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {self.max_depth} levels",
                                              event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        size = self._expanded_size(node) if node is not None else 0
        if size < 0:
            raise yaml.composer.ComposerError(None, None, "an alias refers to the node that contains it",
                                              node.start_mark)
        if size > self.max_nodes:
            raise yaml.composer.ComposerError(
                None, None, f"expands to more than {self.max_nodes} values through aliases (an alias bomb?)",
                node.start_mark)
        return node

    def _expanded_size(self, root: yaml.Node) -> int:
        """Values the document has once every alias is expanded (memoised per node, no
        recursion); -1 for a cycle (`&a [*a]`)."""
        cap = self.max_nodes + 1
        sizes: dict[int, int] = {}
        started: set[int] = set()
        stack: list[tuple[yaml.Node, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            key = id(node)
            if children_done:
                sizes[key] = min(cap, 1 + sum(sizes[id(c)] for c in _children(node)))
                continue
            if key in sizes:
                continue
            if key in started:
                return -1  # reached again from its own descendants: a cycle
            started.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
        return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def compose_yaml(text: str, *, max_bytes: int = 4 * MIB, what: str = "the YAML") -> yaml.Node | None:
    """yaml.compose with the caps above; yaml.YAMLError (with a mark) when one is hit."""
    check_size(len(text), max_bytes, what)
    loader = BoundedComposer(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def safe_load_yaml(text: str, *, max_bytes: int = 4 * MIB, what: str = "the YAML") -> Any:
    """yaml.safe_load with the caps above."""
    check_size(len(text), max_bytes, what)
    loader = BoundedComposer(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_stream(chunks, max_bytes: int, what: str = "the reply") -> bytes:
    """Join byte chunks (an HTTP body being streamed), stopping as soon as they pass
    `max_bytes`: a runaway endpoint costs at most that much memory."""
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) > max_bytes:
            raise InputRejected(f"{what} is over the {size_text(max_bytes)} limit; not read")
    return bytes(out)


def http_request(client, method: str, url: str, max_bytes: int, what: str, **kwargs):
    """client.request with the body capped at `max_bytes` (an httpx.Client; the returned
    Response is complete and closed). InputRejected when the body is bigger."""
    import httpx

    with client.stream(method, url, **kwargs) as response:
        length = response.headers.get("content-length", "")
        if length.isdigit():
            check_size(int(length), max_bytes, what)
        body = read_stream(response.iter_bytes(), max_bytes, what)  # decoded (gzip etc.) already
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=body,
                              request=response.request, extensions=response.extensions)
