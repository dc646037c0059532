"""`servedeck orchestrate validate | status | adopt | run`: SGOrch's verbs.

The config is a standalone SGOrch file or servedeck's own config with `orchestrator:` and
`deployments:` sections (--config, else $SERVEDECK_CONFIG, else the default path).
Exit codes as every verb's (README): 0 ok, 1 invalid, 2 config error, 3 refused (read-only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from servedeck.verbs.common import EXIT_CONFIG, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE  # noqa: F401
from servedeck.verbs.common import EXIT_FAILED as EXIT_INVALID


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    orch = sub.add_parser("orchestrate", parents=[parent],
                          help="keep N SGLang workers alive on SLURM (validate, status, adopt, run)")
    verbs = orch.add_subparsers(dest="orchestrate_verb", metavar="ACTION", required=True)
    verbs.add_parser("validate", parents=[parent], help="check the deployments; FILE:LINE:COL per problem")
    st = verbs.add_parser("status", parents=[parent], help="deployments and workers (live, else from the state file)")
    st.add_argument("--deployment", help="only this deployment")
    st.add_argument("--json", action="store_true", help="print JSON")
    ad = verbs.add_parser("adopt", parents=[parent], help="adopt running workers once, without submitting any")
    ad.add_argument("--dry-run", action="store_true", help="print what adoption would do, change nothing")
    ad.add_argument("--deployment", help="only this deployment")
    ad.add_argument("--json", action="store_true", help="print JSON")
    run = verbs.add_parser("run", parents=[parent], help="run the orchestrator in the foreground")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    from servedeck.verbs.common import add_common

    for p in (ad, run):
        add_common(p)  # `orchestrate run --readonly` as well as `servedeck --readonly orchestrate run`
    orch.set_defaults(handler=main)


def _config(args):
    from servedeck.config.errors import ConfigError
    from servedeck.config.paths import resolve_path
    from servedeck.orchestrator.config import load

    path = resolve_path(getattr(args, "config", None))
    if path is None:
        print("error: no config: pass --config FILE (or set SERVEDECK_CONFIG)", file=sys.stderr)
        return None
    try:
        return load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def main(args) -> int:
    config = _config(args)
    if config is None:
        return EXIT_CONFIG
    verb = args.orchestrate_verb
    if verb == "validate":
        names = ", ".join(f"{d.name} ({d.replicas})" for d in config.deployments)
        print(f"ok: {len(config.deployments)} deployment(s): {names}")
        return EXIT_OK
    if verb == "status":
        return _status(config, args)
    readonly = _readonly(args)
    if verb == "adopt":
        if readonly and not args.dry_run:
            print("refused: read-only mode (adopt --dry-run shows what adoption would do)", file=sys.stderr)
            return EXIT_REFUSED
        return _adopt(config, args)
    return _run(config, args.log_level, readonly=readonly)


def _readonly(args) -> bool:
    """--readonly, or `readonly: true` at the top of servedeck's config."""
    if getattr(args, "readonly", False):
        return True
    import yaml

    from servedeck.config.paths import resolve_path

    try:
        top = yaml.safe_load(resolve_path(getattr(args, "config", None)).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, AttributeError):
        return False  # already loaded once by _config: it is readable
    return isinstance(top, dict) and top.get("readonly") is True


def _status(config, args) -> int:
    from servedeck.orchestrator import status
    from servedeck.orchestrator.control import ControlError, request
    from servedeck.orchestrator.state import StateError, StateStore

    if args.deployment and config.deployment(args.deployment) is None:
        print(f"error: unknown deployment {args.deployment!r}", file=sys.stderr)
        return EXIT_INVALID
    try:
        reply = request(config.orchestrator.socket_path(), {"cmd": "status", "deployment": args.deployment})
        doc = reply["status"]
    except (ControlError, KeyError):
        try:
            state = StateStore(config.orchestrator.state_file()).load()
        except StateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
        doc = status.build(config, state, time.time(), running=False, deployment=args.deployment)
    print(json.dumps(doc, indent=2) if args.json else status.render_text(doc))
    return EXIT_OK


def _adopt(config, args) -> int:
    from servedeck.orchestrator import adoption
    from servedeck.orchestrator.state import StateError

    if args.deployment:
        dep = config.deployment(args.deployment)
        if dep is None:
            print(f"error: unknown deployment {args.deployment!r}", file=sys.stderr)
            return EXIT_INVALID
        config = config.model_copy(update={"deployments": [dep]})  # the others are left alone
    try:
        lines = adoption.adopt(config, dry_run=args.dry_run)
    except (adoption.AdoptionRefused, StateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "deployments": [d.name for d in config.deployments],
                          "actions": lines}, indent=2))
    else:
        print("\n".join(lines) if lines else "nothing to adopt")
    return EXIT_OK


def _run(config, level: str, *, readonly: bool = False) -> int:
    from servedeck.orchestrator import logging_json
    from servedeck.orchestrator.service import AlreadyRunning, Service
    from servedeck.orchestrator.state import StateError

    logging_json.setup(level)
    try:
        service = Service(config)
    except (AlreadyRunning, StateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    service.engine.readonly = readonly  # watches and reports; submits, registers, cancels nothing
    try:
        service.run()
    except OSError as exc:  # metrics port or socket path taken
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
