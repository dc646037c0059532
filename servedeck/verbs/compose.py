"""`servedeck compose [-f FILE] [-p PROJECT] ps|up|down|restart|build|rebuild|logs`.

The compose pane for scripts: the same backend actions the cockpit runs. A project is
named by `-p` (found on the configured compose targets by its labels, with its own
files) or by `-f FILE` (which also works before the project has any container, as
`docker-compose -f FILE up` does); with neither, a compose file in the current
directory is used. Mutations are refused in read-only mode; down, down -v, restart and
rebuild ask first on a terminal or need --yes.
"""

from __future__ import annotations

import argparse
import os
import sys

from servedeck.verbs.common import (
    EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, confirmed, is_readonly, load_fleet,
    print_table, row_dict, runners_of,
)
from servedeck.verbs.logs import print_source

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
ACTION_VERBS = {"up": "compose.up", "restart": "compose.restart", "build": "compose.build",
                "rebuild": "compose.rebuild", "down": "compose.down"}
PS_COLUMNS = ["host", "project", "service", "state", "health", "exit_code", "depends_on", "ports", "container"]


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    compose = sub.add_parser("compose", parents=[parent], help="Docker Compose projects on the configured Docker hosts")
    compose.add_argument("-f", "--file", action="append", metavar="FILE", help="compose file (repeatable)")
    compose.add_argument("-p", "--project", metavar="PROJECT", help="project name")
    compose.add_argument("--host", metavar="TARGET", help="only this compose target (its name in the config)")
    verbs = compose.add_subparsers(dest="compose_verb", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS,
                        help="refuse every action that changes anything")
    ps = verbs.add_parser("ps", parents=[parent, common], help="projects and their services")
    ps.add_argument("--json", action="store_true", help="print JSON rows")
    ps.set_defaults(handler=cmd_ps)
    for verb, action in ACTION_VERBS.items():
        p = verbs.add_parser(verb, parents=[parent, common], help=f"{verb} the project, or one service")
        p.add_argument("service", nargs="?", metavar="SERVICE")
        if verb == "down":
            p.add_argument("-v", "--volumes", action="store_true", help="also remove the project's volumes")
        if verb in ("down", "restart", "rebuild"):
            p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
        p.set_defaults(handler=cmd_action, action_id=action)
    logs = verbs.add_parser("logs", parents=[parent, common], help="the project's logs merged (or one service's)")
    logs.add_argument("service", nargs="?", metavar="SERVICE")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    logs.add_argument("-n", "--tail", type=int, default=-1, metavar="N", help="only the last N lines of each")
    logs.set_defaults(handler=cmd_logs)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"servedeck compose: {message}", file=sys.stderr)
    return code


def _files(args) -> tuple[str, ...]:
    if args.file:
        return tuple(os.path.abspath(f) for f in args.file)
    found = next((f for f in DEFAULT_FILES if os.path.exists(f)), None)
    return (os.path.abspath(found),) if found and not args.project else ()


def _runners(args):
    """(loaded, fleet, compose runners) or an exit code after saying why."""
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    runners = runners_of(fleet, "compose", args.host)
    if not runners:
        fleet.close()
        what = f"compose target {args.host!r}" if args.host else "compose target"
        return _fail(f"no {what} in the config (backends: compose: [{{name: local, url: unix:///var/run/docker.sock}}])",
                     EXIT_CONFIG)
    return loaded, fleet, runners


def _wanted(args, row) -> bool:
    if args.project and row.project != args.project:
        return False
    files = _files(args)
    return not files or bool(set(files) & {os.path.join(row.working_dir, f) for f in row.config_files})


def cmd_ps(args) -> int:
    from servedeck.status import write_json

    found = _runners(args)
    if isinstance(found, int):
        return found
    _, fleet, runners = found
    rows, down = [], []
    try:
        for runner in runners:
            snap = runner.poll_once(frozenset({"compose"})) or runner.snapshot
            if snap.state.health.value == "down":
                down.append(f"{runner.name}: {snap.state.message}")
            rows += [row_dict(runner.name, r) for r in snap.panes.get("compose", ()) if _wanted(args, r)]
    finally:
        fleet.close()
    for problem in down:
        _fail(problem)
    if args.json:
        write_json({"compose": rows}, sys.stdout)
    else:
        print_table(rows, PS_COLUMNS)
    return EXIT_UNREACHABLE if down else EXIT_OK


def _target(args, runners):
    """(runner, row) addressing the project (or SERVICE of it), or an exit code."""
    from servedeck.backends.compose.rows import addressing

    service = getattr(args, "service", None) or ""
    files = _files(args)
    if files and len(runners) > 1 and not args.host:
        return _fail(f"{len(runners)} compose targets are configured: choose one with --host")
    if files:
        runner = runners[0]
        return runner, addressing(runner.name, args.project or "", tuple(files), os.path.dirname(files[0]), service)
    if not args.project:
        return _fail("name a project with -p PROJECT or a compose file with -f FILE (no compose file here)")
    hits, problems = [], []
    for runner in runners:
        try:
            row = runner.backend.find_project(args.project)
        except Exception as exc:
            problems.append(f"{runner.name}: {getattr(exc, 'message', exc)}")
            continue
        if row is not None:
            hits.append((runner, row))
    if len(hits) != 1:
        for problem in problems:
            _fail(problem)
        if hits:
            return _fail(f"project {args.project!r} runs on {', '.join(r.name for r, _ in hits)}: choose one with --host")
        code = EXIT_UNREACHABLE if problems and len(problems) == len(runners) else EXIT_FAILED
        return _fail(f"no project {args.project!r} on {', '.join(r.name for r in runners)} "
                     "(a project without containers needs -f FILE)", code)
    runner, row = hits[0]
    return runner, addressing(runner.name, row.project, row.config_files, row.working_dir, service)


def cmd_action(args) -> int:
    from servedeck.backends.base import find_action

    found = _runners(args)
    if isinstance(found, int):
        return found
    loaded, fleet, runners = found
    try:
        action_id = "compose.down_volumes" if getattr(args, "volumes", False) else args.action_id
        action = find_action(type(runners[0].backend), action_id)
        if is_readonly(args, loaded) and action.mutating:
            return _fail(f"refused: {action.title.lower()} changes state (read-only mode)", EXIT_REFUSED)
        target = _target(args, runners)
        if isinstance(target, int):
            return target
        runner, row = target
        what = row.name if row.project else ",".join(row.config_files)
        if action.confirm and not confirmed(f"{action.title}: {what} on {runner.name}?", getattr(args, "yes", False)):
            return EXIT_FAILED
        result = runner.perform(action_id, row, readonly=is_readonly(args, loaded))
    finally:
        fleet.close()
    if not result.ok:
        return _fail(result.message)
    print(result.message)
    return EXIT_OK


def cmd_logs(args) -> int:
    from servedeck.backends.base import BackendError
    from servedeck.backends.compose.cli import ComposeProject

    found = _runners(args)
    if isinstance(found, int):
        return found
    _, fleet, runners = found
    try:
        target = _target(args, runners)
        if isinstance(target, int):
            return target
        runner, row = target
        project = ComposeProject(row.project, row.config_files, row.working_dir)
        try:
            source = runner.backend.project_log(project, row.service)
        except BackendError as exc:
            return _fail(exc.message + (f" ({exc.hint})" if exc.hint else ""))
        return print_source(source, follow=args.follow, tail=args.tail)
    finally:
        fleet.close()
