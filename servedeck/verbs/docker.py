"""`servedeck docker ps|start|stop|restart|rm|logs|shell`: the containers pane for scripts.

Every action is the backend's own (the same code the TUI runs); mutations are refused in
read-only mode (`--readonly` or `readonly: true` in the config), and the destructive ones
(stop, restart, rm) ask for confirmation on a terminal or need `--yes`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from servedeck.verbs.common import (
    EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, confirmed, is_readonly, load_fleet,
)
from servedeck.verbs.logs import print_source

VERBS = {"start": "container.start", "stop": "container.stop", "restart": "container.restart",
         "rm": "container.remove", "shell": "container.shell"}


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    docker = sub.add_parser("docker", parents=[parent], help="containers on the configured Docker hosts")
    verbs = docker.add_subparsers(dest="docker_verb", metavar="ACTION", required=True)
    host = argparse.ArgumentParser(add_help=False)
    host.add_argument("--host", metavar="TARGET", help="only this docker target (its name in the config)")
    host.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS,
                      help="refuse every action that changes anything")
    ps = verbs.add_parser("ps", parents=[parent, host], help="list containers (all hosts)")
    ps.add_argument("--json", action="store_true", help="print JSON rows (the fields of status --json)")
    ps.set_defaults(handler=cmd_ps)
    for verb, action in VERBS.items():
        p = verbs.add_parser(verb, parents=[parent, host], help=f"{verb} a container")
        p.add_argument("name", metavar="NAME", help="container name or id")
        if verb in ("stop", "restart", "rm"):
            p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
        p.set_defaults(handler=cmd_action, action_id=action)
    logs = verbs.add_parser("logs", parents=[parent, host], help="print a container's log")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--tail", type=int, default=-1, metavar="N")
    logs.set_defaults(handler=cmd_logs)


def _docker_runners(args):
    """(loaded config, fleet, docker runners), or (None, None, None) after a config error."""
    found = load_fleet(args)
    if found is None:
        return None, None, None
    loaded, fleet = found
    runners = [r for r in fleet.runners if r.backend.kind == "docker"]
    if args.host:
        runners = [r for r in runners if r.name == args.host]
    return loaded, fleet, runners


def _no_hosts(args) -> int:
    what = f"docker target {args.host!r}" if args.host else "docker target"
    print(f"servedeck docker: no {what} in the config (backends: docker: [...])", file=sys.stderr)
    return EXIT_CONFIG


def cmd_ps(args) -> int:
    from servedeck.status import row_dict, write_json

    _, fleet, runners = _docker_runners(args)
    if fleet is None:
        return EXIT_CONFIG
    try:
        if not runners:
            return _no_hosts(args)
        rows, down = [], []
        for runner in runners:
            snap = runner.poll_once(frozenset({"containers"})) or runner.snapshot
            if snap.state.health.value == "down":
                down.append(f"{runner.name}: {snap.state.message}")
            rows += [row_dict(runner.name, r) for r in snap.panes.get("containers", ())]
    finally:
        fleet.close()
    for problem in down:
        print(f"servedeck docker: {problem}", file=sys.stderr)
    if args.json:
        write_json({"containers": rows}, sys.stdout)
    else:
        _print_table(rows)
    return EXIT_UNREACHABLE if down else EXIT_OK


def _print_table(rows: list[dict]) -> None:
    from servedeck.text import safe

    head = ("HOST", "NAME", "IMAGE", "STATE", "HEALTH", "CPU %", "MEMORY", "PORTS")
    table = [head]
    for r in rows:
        cpu = "" if r["cpu_percent"] is None else f"{r['cpu_percent']:.1f}"
        mem = "" if r["mem_bytes"] is None else f"{r['mem_bytes'] / 2**20:.1f}MiB"
        table.append(tuple(safe(v, 40) for v in (r["host"], r["name"], r["image"], r["state"], r["health"],
                                                   cpu, mem, r["ports"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _find(args, runners):
    """(runner, row) of the one container called NAME, or an exit code after saying why."""
    found, problems = [], []
    for runner in runners:
        try:
            row = runner.backend.find(args.name)
        except Exception as exc:
            problems.append(f"{runner.name}: {getattr(exc, 'message', exc)}")
            continue
        if row is not None:
            found.append((runner, row))
    if len(found) == 1:
        return found[0]
    for problem in problems:
        print(f"servedeck docker: {problem}", file=sys.stderr)
    if not found:
        print(f"servedeck docker: no container {args.name!r} on {', '.join(r.name for r in runners)}", file=sys.stderr)
        return EXIT_UNREACHABLE if problems and len(problems) == len(runners) else EXIT_FAILED
    hosts = ", ".join(r.name for r, _ in found)
    print(f"servedeck docker: {args.name!r} exists on {hosts}: choose one with --host", file=sys.stderr)
    return EXIT_FAILED


def cmd_action(args) -> int:
    from servedeck.backends.base import RunInteractive, find_action

    loaded, fleet, runners = _docker_runners(args)
    if fleet is None:
        return EXIT_CONFIG
    try:
        if not runners:
            return _no_hosts(args)
        readonly = is_readonly(args, loaded)
        action = find_action(type(runners[0].backend), args.action_id)
        if readonly and action.mutating:
            print(f"servedeck docker: refused: {action.title.lower()} changes state (read-only mode)", file=sys.stderr)
            return EXIT_REFUSED
        found = _find(args, runners)
        if isinstance(found, int):
            return found
        runner, row = found
        if action.confirm and not confirmed(f"{action.title} {row.name} on {runner.name}?", getattr(args, "yes", False)):
            return EXIT_REFUSED
        result = runner.perform(args.action_id, row, readonly=readonly)
    finally:
        fleet.close()
    if isinstance(result.follow_up, RunInteractive) and result.ok:
        return subprocess.call(list(result.follow_up.argv))
    print(("" if result.ok else "servedeck docker: ") + result.message, file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_logs(args) -> int:
    _, fleet, runners = _docker_runners(args)
    if fleet is None:
        return EXIT_CONFIG
    try:
        if not runners:
            return _no_hosts(args)
        found = _find(args, runners)
        if isinstance(found, int):
            return found
        runner, row = found
        source = runner.backend.container_log(row.full_id, row.name)
        return print_source(source, follow=args.follow, tail=args.tail)
    finally:
        fleet.close()
