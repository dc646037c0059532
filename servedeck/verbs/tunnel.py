"""`servedeck tunnel list|open|close|restart`: the configured SSH tunnels from a script.

A tunnel lives in the process that opened it: `tunnel open NAME...` stays in the
foreground, printing state changes, until Ctrl-C (or `tunnel close NAME` from another
shell, which signals it). While it runs it keeps a small status file per tunnel in the
runtime directory, which `tunnel list` reads to show each configured tunnel's state.
"""

from __future__ import annotations

from servedeck import bounded

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from servedeck.verbs.common import (EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, add_common, is_readonly,
                                  load_fleet, print_table, runners_of)


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"servedeck-tunnels-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _status_file(backend: str, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{backend}.{name}")
    return runtime_dir() / f"{safe}.json"


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tunnel", parents=[parent], help="list, open, close or restart SSH tunnels")
    actions = p.add_subparsers(dest="tunnel_action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", parents=[parent], help="configured tunnels and their state")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=cmd_list)
    for verb, text in (("open", "open tunnels and keep them up in the foreground until Ctrl-C"),
                       ("restart", "close tunnels held open by `tunnel open`, then open them here (foreground)")):
        op = actions.add_parser(verb, parents=[parent], help=text, description=text + ". "
                                "The tunnels exist only while this command runs.")
        op.add_argument("names", nargs="+", metavar="NAME")
        add_common(op)
        op.set_defaults(handler=cmd_open, restart=verb == "restart")
    cl = actions.add_parser("close", parents=[parent], help="close tunnels held open by `servedeck tunnel open`")
    cl.add_argument("names", nargs="+", metavar="NAME")
    add_common(cl)
    cl.set_defaults(handler=cmd_close)


def _held(backend: str, name: str) -> dict | None:
    """What a running `tunnel open` reports for this tunnel, if one runs."""
    path = _status_file(backend, name)
    try:
        data = bounded.loads_json(bounded.read_bytes(path, 1 << 20, "the tunnel status file"))
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return None
    return data


def cmd_list(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    rows = []
    try:
        for runner in runners_of(fleet, "tunnels"):
            for name in runner.backend.configs:
                row = asdict(runner.backend.row(name))
                held = _held(runner.name, name)
                if held is not None:
                    row.update(held["row"], held_by_pid=held["pid"])
                rows.append({"backend": runner.name, **row})
    finally:
        fleet.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no tunnels configured (backends: tunnels: in the config)")
    else:
        print_table(rows, ["name", "mode", "ssh", "local", "remote", "state", "bytes_in", "bytes_out", "error"])
    return EXIT_OK


def _find(fleet, names: list[str]) -> dict[str, object] | None:
    """name -> tunnels backend configuring it; None after printing the unknown names."""
    where = {n: r.backend for r in runners_of(fleet, "tunnels") for n in r.backend.configs}
    unknown = [n for n in names if n not in where]
    if unknown:
        known = ", ".join(sorted(where)) or "none"
        print(f"no tunnel named {', '.join(unknown)} (configured: {known})", file=sys.stderr)
        return None
    return {n: where[n] for n in names}


def _signal_holder(backend: str, name: str) -> bool:
    held = _held(backend, name)
    if held is None:
        return False
    os.kill(int(held["pid"]), signal.SIGTERM)
    for _ in range(50):
        if _held(backend, name) is None:
            break
        time.sleep(0.1)
    return True


def cmd_close(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    try:
        if is_readonly(args, loaded):
            print("refused: read-only mode", file=sys.stderr)
            return EXIT_REFUSED
        where = _find(fleet, args.names)
        if where is None:
            return EXIT_CONFIG
        status = EXIT_OK
        for name, backend in where.items():
            if _signal_holder(backend.name, name):
                print(f"tunnel {name} closed")
            else:
                print(f"tunnel {name} is not open (no `servedeck tunnel open` holds it)", file=sys.stderr)
                status = EXIT_FAILED
        return status
    finally:
        fleet.close()


def cmd_open(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    files: list[Path] = []
    try:
        if is_readonly(args, loaded):
            print("refused: read-only mode", file=sys.stderr)
            return EXIT_REFUSED
        where = _find(fleet, args.names)
        if where is None:
            return EXIT_CONFIG
        from servedeck.backends.base import BackendError

        for name, backend in where.items():
            if getattr(args, "restart", False):
                _signal_holder(backend.name, name)
            elif _held(backend.name, name) is not None:
                print(f"tunnel {name} is already held open by pid {_held(backend.name, name)['pid']}", file=sys.stderr)
                return EXIT_FAILED
            try:
                tunnel = backend.open(name)
            except BackendError as exc:
                print(f"tunnel {name}: {exc.message}", file=sys.stderr)
                return EXIT_FAILED
            print(f"tunnel {name}: {tunnel.spec.mode} {tunnel.spec.local} -> {tunnel.spec.remote} via {tunnel.spec.ssh}",
                  flush=True)
            files.append(_status_file(backend.name, name))
        print("holding the tunnels open; Ctrl-C to close them", flush=True)
        last: dict[str, tuple[str, str]] = {}
        while not stop.is_set():
            for (name, backend), path in zip(where.items(), files):
                row = backend.row(name)
                path.write_text(json.dumps({"pid": os.getpid(), "row": asdict(row)}))
                if last.get(name) != (row.state, row.error):
                    last[name] = (row.state, row.error)
                    print(f"tunnel {name}: {row.state}" + (f" ({row.error})" if row.error else ""), flush=True)
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        for path in files:
            path.unlink(missing_ok=True)
        fleet.close()
    print("tunnels closed")
    return EXIT_OK
