"""The `servedeck` command: the cockpit by default, and a verb for every script-able action.

Verbs never import Textual; only opening the cockpit does.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from servedeck import __version__
from servedeck.extras import skip_unused_extras
from servedeck.verbs.common import (EXIT_CONFIG, EXIT_DEGRADED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE,
                                    EXIT_FAILED as EXIT_INVALID)


def _parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="config file (default: $SERVEDECK_CONFIG, else ~/.config/servedeck/config.yaml, else built-in)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    parent = _parent()
    parser = argparse.ArgumentParser(
        prog="servedeck",
        description="A keyboard-driven cockpit for LLM-serving fleets. Without a verb, opens the cockpit.",
        parents=[parent],
    )
    parser.add_argument("--version", action="version", version=f"servedeck {__version__}")
    parser.add_argument("--readonly", action="store_true", help="refuse every action that changes anything")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    sub.add_parser("validate", parents=[parent], help="check the config; one FILE:LINE:COL line per problem")

    status = sub.add_parser("status", parents=[parent], help="one snapshot of every backend")
    status.add_argument("--json", action="store_true", help="print JSON (the only format for now)")
    status.add_argument("--deadline", type=float, default=15.0, metavar="SECONDS",
                        help="overall time for every backend to answer; later ones count as down (default 15)")

    sub.add_parser("backends", parents=[parent], help="list installed backend kinds")

    lab = sub.add_parser("lab", help="a local serving fleet on 127.0.0.1 (router, stand-in workers, services)")
    lab.add_argument("action", choices=["up", "down", "status"])
    lab.add_argument("--dir", default=".lab", help="lab state directory (default: ./.lab)")
    lab.add_argument("--workers", type=int, default=2, help="stand-in SGLang workers (up)")
    lab.add_argument("--gpus", type=int, default=4, help="stand-in GPUs on the DCGM exporter (up)")

    from servedeck.verbs import register_all

    register_all(sub, parent)
    return parser


def main(argv: list[str] | None = None) -> int:
    skip_unused_extras()
    args = build_parser().parse_args(argv)
    _setup_logging()
    config_path = getattr(args, "config", None)
    from servedeck import secrets

    secrets.register_environment()
    streams = sys.stdout, sys.stderr
    if args.verb is not None:  # verbs print; the cockpit draws through Textual (redacted there)
        sys.stdout, sys.stderr = secrets.RedactingStream(sys.stdout), secrets.RedactingStream(sys.stderr)
    try:
        return _dispatch(args, config_path)
    finally:
        sys.stdout, sys.stderr = streams


def _dispatch(args, config_path: str | None) -> int:
    try:
        if args.verb == "validate":
            return cmd_validate(config_path)
        if args.verb == "status":
            return cmd_status(config_path, args.deadline)
        if args.verb == "backends":
            return cmd_backends()
        if args.verb == "lab":
            return cmd_lab(args)
        if getattr(args, "handler", None) is not None:
            return args.handler(args)
        return cmd_cockpit(config_path, readonly=args.readonly)
    except KeyboardInterrupt:
        return 130


def _setup_logging() -> None:
    """Log to a file, never to the terminal the cockpit draws on; secrets masked."""
    from servedeck.secrets import RedactingFilter

    log_dir = Path("~/.local/state/servedeck").expanduser()
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_dir / "servedeck.log")
    except OSError:
        handler = logging.NullHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore", "paramiko.transport", "urllib3", "docker"):
        logging.getLogger(chatty).setLevel(logging.WARNING)  # one line per request drowns the rest


def _load(config_path: str | None):
    from servedeck.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def cmd_validate(config_path: str | None) -> int:
    from servedeck.config import ConfigError, load_config

    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return EXIT_INVALID
    theme = loaded.config.ui.theme
    if theme:
        from textual.theme import BUILTIN_THEMES  # only here: validating a theme needs Textual's list

        if theme not in BUILTIN_THEMES:
            print(loaded.problem(("ui", "theme"), f"ui.theme: unknown theme {theme!r}; available: {', '.join(sorted(BUILTIN_THEMES))}"))
            return EXIT_INVALID
    targets = len(loaded.targets)
    print(f"{loaded.source}: valid ({targets} backend target{'s' if targets != 1 else ''})")
    return EXIT_OK


def cmd_status(config_path: str | None, deadline: float | None = None) -> int:
    from servedeck.backends.fleet import Fleet
    from servedeck.status import snapshot_document, write_json

    loaded = _load(config_path)
    if loaded is None:
        return EXIT_CONFIG
    fleet = Fleet.from_config(loaded)
    try:
        snapshots = fleet.poll_all(deadline=deadline)  # concurrently, within one deadline
    finally:
        fleet.close()
    document = snapshot_document(snapshots)
    write_json(document, sys.stdout)
    return status_exit_code(b["state"] for b in document["backends"])


def status_exit_code(states) -> int:
    """0 all ok; EXIT_UNREACHABLE when any backend is down; else EXIT_DEGRADED when any
    is degraded (or was never polled)."""
    states = set(states)
    if "down" in states:
        return EXIT_UNREACHABLE
    return EXIT_OK if states <= {"ok"} else EXIT_DEGRADED


def cmd_backends() -> int:
    from servedeck.backends.registry import GROUP, _entry_points

    for name, ep in sorted(_entry_points().items()):
        print(f"{name:12} {ep.value}")
    if not _entry_points():
        print(f"no backends registered in entry-point group {GROUP}")
    return EXIT_OK


def cmd_lab(args) -> int:
    from servedeck.lab.manager import LabError, down, status, up

    lab_dir = Path(args.dir)
    if args.readonly and args.action != "status":
        print(f"servedeck lab {args.action}: refused: read-only mode", file=sys.stderr)
        return EXIT_REFUSED
    try:
        if args.action == "up":
            info = up(lab_dir, workers=args.workers, gpus=args.gpus, log=print)
            print(info.render())
            print(f"\nopen the cockpit:  servedeck --config {lab_dir / 'servedeck.yaml'}")
        elif args.action == "down":
            down(lab_dir, log=print)
        else:
            print(status(lab_dir).render())
    except LabError as exc:
        print(f"servedeck lab {args.action}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def cmd_cockpit(config_path: str | None, *, readonly: bool) -> int:
    loaded = _load(config_path)
    if loaded is None:
        return EXIT_CONFIG
    from servedeck.app.main_app import ServedeckApp

    app = ServedeckApp(loaded, readonly=readonly or loaded.config.readonly)
    app.run()
    return app.return_code or EXIT_OK
