"""`servedeck pylet workers|instances [--json] | logs ID [-f] | cancel ID | delete ID |
delete-worker ID`: a Pylet head's workers and instances, and what can be done to them.

An instance is named by its id, a unique id prefix or its name. Cancel and delete ask
first (`--yes` skips that) and are refused in read-only mode; Pylet's own refusals (a
terminal instance, a worker that still has instances) are printed as one line.
"""

from __future__ import annotations

import argparse
import json
import sys

from servedeck.verbs.common import (EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, add_common,
                                    confirmed, is_readonly, load_fleet, print_table, row_dict, runners_of)

LISTS = {
    "workers": ("pylet_workers", ["pylet", "id", "host", "status", "gpus", "cpu_cores", "instances", "last_seen_at"]),
    "instances": ("pylet_instances", ["pylet", "id", "name", "status", "worker", "gpu_indices", "endpoint",
                                      "exit_code", "failure_reason", "labels"]),
}


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("pylet", parents=[parent], help="Pylet workers and instances (ServerlessLLM's cluster manager)")
    verbs = p.add_subparsers(dest="pylet_verb", metavar="ACTION", required=True)
    for name in LISTS:
        ls = verbs.add_parser(name, parents=[parent], help=f"list the {name} of every Pylet head")
        ls.add_argument("--json", action="store_true", help="print a JSON list")
        ls.set_defaults(handler=cmd_list, listing=name)
    logs = verbs.add_parser("logs", parents=[parent], help="an instance's output (the head's log route)")
    logs.add_argument("instance", metavar="ID")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new output until Ctrl-C")
    logs.add_argument("-n", "--tail", type=int, default=-1, metavar="N", help="only the last N lines")
    logs.set_defaults(handler=cmd_logs)
    for name, text in (("cancel", "cancel an instance (asks first)"), ("delete", "delete an instance (asks first)"),
                       ("delete-worker", "delete an OFFLINE worker (asks first)")):
        one = verbs.add_parser(name, parents=[parent], help=text)
        one.add_argument("ident", metavar="ID")
        one.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        add_common(one)
        one.set_defaults(handler=cmd_change, change=name)
    for q in (p, *verbs.choices.values()):
        q.add_argument("--pylet", default=argparse.SUPPRESS, help="the pylet target (default: every one / the only one)")


def cmd_list(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    pane, columns = LISTS[args.listing]
    rows, failed = [], []
    try:
        for runner in runners_of(fleet, "pylet", getattr(args, "pylet", None)):
            snap = runner.poll_once(frozenset({pane})) or runner.snapshot
            if snap.state.health.value == "down":
                failed.append(f"{snap.backend}: {snap.state.message}")
            rows += [row_dict(snap.backend, r) for r in snap.panes.get(pane, ())]
    finally:
        fleet.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from servedeck.verbs.sllm import _flat

        print_table(_flat(rows), columns)
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_UNREACHABLE if failed else EXIT_OK


def cmd_logs(args) -> int:
    from servedeck.verbs.logs import stream

    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    try:
        return stream(f"pylet/{args.instance}", runners_of(fleet, "pylet", getattr(args, "pylet", None)),
                      follow=args.follow, tail=args.tail)
    finally:
        fleet.close()


def cmd_change(args) -> int:
    from servedeck.backends.base import BackendError

    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    try:
        if is_readonly(args, loaded):
            print("refused: read-only mode", file=sys.stderr)
            return EXIT_REFUSED
        runners = runners_of(fleet, "pylet", getattr(args, "pylet", None))
        if not runners:
            print("no pylet target is configured", file=sys.stderr)
            return EXIT_CONFIG
        for runner in runners:
            backend = runner.backend
            try:
                if args.change == "delete-worker":
                    snap = runner.poll_once(frozenset({"pylet_workers"})) or runner.snapshot
                    row = next((w for w in snap.panes.get("pylet_workers", ()) if w.id.startswith(args.ident)), None)
                    action, what = "worker.delete", f"worker {row.id} ({row.status})" if row else ""
                else:
                    row = backend.find_instance(args.ident)
                    action = f"instance.{args.change}"
                    what = f"instance {row.name or row.id} ({row.status})" if row else ""
            except BackendError as exc:
                print(f"error: {runner.name}: {exc.message}", file=sys.stderr)
                return EXIT_UNREACHABLE
            if row is None:
                continue
            if not confirmed(f"{args.change.replace('-worker', '')} {what} on {runner.name}?", args.yes):
                return EXIT_REFUSED
            result = runner.perform(action, row, readonly=False)
            print(result.message, file=sys.stdout if result.ok else sys.stderr)
            return EXIT_OK if result.ok else EXIT_FAILED
        print(f"no Pylet head has {'a worker' if args.change == 'delete-worker' else 'an instance'} {args.ident}",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        fleet.close()
