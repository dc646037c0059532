"""`servedeck workers [--json]`, `servedeck worker add URL`, `servedeck worker remove URL`:
the router workers of every configured router, with the SLURM job behind each."""

from __future__ import annotations

import argparse
import json
import sys

from servedeck.verbs.common import (EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, add_common, confirmed,
                                  is_readonly, load_fleet, print_table, row_dict, runners_of)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    ls = sub.add_parser("workers", parents=[parent], help="router workers, with the SLURM job behind each")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(handler=cmd_workers)
    one = sub.add_parser("worker", parents=[parent], help="add a worker to a router or remove it")
    actions = one.add_subparsers(dest="worker_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[parent], help="register a worker URL with a router")
    remove = actions.add_parser("remove", parents=[parent], help="remove a worker from its router (asks first)")
    for p in (add, remove):
        p.add_argument("url", metavar="URL_OR_ID")
        p.add_argument("--router", help="the router target (default: the only one, or the one listing it)")
        add_common(p)
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add.set_defaults(handler=cmd_worker, adding=True)
    remove.set_defaults(handler=cmd_worker, adding=False)


def cmd_workers(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    try:
        snaps = fleet.poll_all({"workers", "jobs", "tunnels"})
    finally:
        fleet.close()
    rows, failed = [], []
    for snap in snaps.values():
        if snap.kind != "router":
            continue
        if "workers" not in snap.panes:
            failed.append(f"{snap.backend}: {snap.state.message}")
        rows += [row_dict(snap.backend, r) for r in snap.panes.get("workers", ())]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, ["router", "url", "healthy", "load", "model", "job_id", "tunnel", "id"])
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_worker(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    try:
        if is_readonly(args, loaded):
            print("refused: read-only mode", file=sys.stderr)
            return EXIT_REFUSED
        runners = runners_of(fleet, "router", args.router)
        if not runners:
            print("no router target is configured" if not args.router else f"no router named {args.router}",
                  file=sys.stderr)
            return EXIT_CONFIG
        if args.adding:
            if len(runners) > 1:
                print("several routers configured: choose one with --router", file=sys.stderr)
                return EXIT_CONFIG
            result = runners[0].backend.add_worker(args.url)
        else:
            target = None
            for runner in runners:
                snap = runner.poll_once(frozenset({"workers"})) or runner.snapshot
                row = next((r for r in snap.panes.get("workers", ()) if args.url in (r.url, r.id)), None)
                if row is not None:
                    target = (runner, row)
                    break
            if target is None:
                print(f"no router lists a worker {args.url}", file=sys.stderr)
                return EXIT_FAILED
            if not confirmed(f"remove {target[1].url} from router {target[0].name}?", args.yes):
                return EXIT_REFUSED
            result = target[0].backend.perform("worker.remove", target[1])
    finally:
        fleet.close()
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED
