"""`servedeck events [--follow] [--json] [--limit N]`: the state changes the cockpit
observed (backend down/up, jobs, workers, tunnels, drains, orchestrator), from the
JSON-lines file the cockpit appends to."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from servedeck.verbs.common import EXIT_OK


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("events", parents=[parent], help="state changes the cockpit observed, oldest first")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events as they are written")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=50, help="print the last N events first (0: all; default 50)")
    p.add_argument("--file", help="the events file (default: $SERVEDECK_STATE_DIR or ~/.local/state/servedeck/events.jsonl)")
    p.set_defaults(handler=cmd_events)


def format_event(event) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.at))
    return f"{stamp}  {event.severity:4}  {event.kind:22} {event.backend:12} {event.subject}: {event.message}"


def cmd_events(args) -> int:
    from servedeck.overview.events import events_path, follow_events, read_events

    path = Path(args.file).expanduser() if args.file else events_path()
    shown = read_events(path)
    if args.limit > 0:
        shown = shown[-args.limit:]
    show = (lambda e: e.to_json()) if args.json else format_event
    for event in shown:
        print(show(event))
    if not shown and not args.json and not args.follow:
        print(f"no events in {path} yet (the cockpit writes them while it runs)", file=sys.stderr)
    if args.follow:
        try:
            for event in follow_events(path):
                print(show(event), flush=True)
        except KeyboardInterrupt:
            pass
    return EXIT_OK
