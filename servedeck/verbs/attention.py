"""`servedeck attention [--json]`: what needs attention right now, most severe first, as
the overview lists it (one poll of every backend; exit 1 when something is critical)."""

from __future__ import annotations

import argparse
import json
import time

from servedeck.verbs.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, load_fleet


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("attention", parents=[parent], help="what needs attention now (the overview's list)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_attention)


def cmd_attention(args) -> int:
    from servedeck.overview.attention import Attention
    from servedeck.widgets.cells import human_duration  # rich only, no Textual

    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    try:
        snapshots = fleet.poll_all()
    finally:
        fleet.close()
    now = time.time()
    items = Attention().items(snapshots, now)
    if args.json:
        print(json.dumps([{"severity": i.severity, "rule": i.rule, "subject": i.subject, "why": i.why,
                           "since": i.since, "for_s": round(now - i.since, 1),
                           "pane": i.jump.pane if i.jump else None} for i in items], indent=2))
    elif not items:
        print("nothing needs attention")
    else:
        for i in items:
            print(f"{i.severity:4}  {i.subject:40}  {human_duration(now - i.since):>7}  {i.why}")
    return EXIT_FAILED if any(i.severity == "crit" for i in items) else EXIT_OK

