"""Optional parts of dependencies that servedeck never uses, kept from loading.

Two libraries import an optional extra at import time whenever its packages happen to
be installed, and here they always are:
- httpx imports its command-line client (`httpx._main`: click, pygments' lexers,
  rich.syntax) when click and pygments are present (Pylet and Textual bring them);
- paramiko's ssh_config support imports invoke (a paramiko dependency) for `Match exec`.
servedeck never runs httpx's CLI and never reads ~/.ssh/config through paramiko (hosts
come from servedeck's own config), yet the two cost ~0.2 s of CPU and several MiB on
every `servedeck` start that touches HTTP or SSH (profiled with `python -X importtime`).
Both libraries fall back cleanly when the extra cannot be imported: a `None` entry in
`sys.modules` makes its import raise ImportError. Only the `servedeck` command does
this (it owns its process); importing servedeck as a library changes nothing.
"""

from __future__ import annotations

import sys

UNUSED = ("httpx._main", "invoke")


def skip_unused_extras() -> None:
    for name in UNUSED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # an import that already ran stays
