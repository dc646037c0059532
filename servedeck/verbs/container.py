"""`servedeck container start|stop|status|serve|unserve|build`: the SGLang helper container.

`start` and `stop` keep the seed's `start_observable_container.sh` /
`stop_observable_container.sh` contract (heartbeat lines, warnings before the ready line,
`CONTAINER_RUN_META_JSON_HOST=` / `CONTAINER_RUN_META_JSON=`, the 50-line log tail on
stderr when the container stops, HOST_MANIFEST_ROOT). Settings come from the config's
first `runs` target (or `--target NAME`), else the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from servedeck.verbs.common import (
    EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, confirmed, load_config_or_report,
)
MUTATING = {"start", "stop", "serve", "unserve", "build"}


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("container", parents=[parent],
                       help="the SGLang helper container: start, stop, status, serve, unserve, build")
    p.add_argument("what", choices=["start", "stop", "status", "serve", "unserve", "build"],
                   help="start/replace the helper, stop it, show it, launch/stop SGLang in it, build its image")
    p.add_argument("--target", metavar="NAME", help="which `runs` target of the config (default: the first)")
    p.add_argument("--yes", action="store_true", help="do not ask before stopping")
    p.add_argument("--json", action="store_true", help="status: print JSON")
    p.add_argument("--standin", action="store_true",
                   help="build: the busybox stand-in image (tests, the lab) instead of the SGLang-based one")
    p.set_defaults(handler=run)


def _settings(args):
    from servedeck.backends.runs.settings import RunsSettings

    loaded = load_config_or_report(args)
    if loaded is None:
        return None, False
    settings = [t.settings for t in loaded.targets if t.kind == "runs"]
    if args.target:
        chosen = next((s for s in settings if s.name == args.target), None)
        if chosen is None:
            names = ", ".join(s.name for s in settings) or "none"
            print(f"servedeck container: no runs target named {args.target!r} (configured: {names})", file=sys.stderr)
            return None, False
    else:
        chosen = settings[0] if settings else RunsSettings(name="runs")
    return chosen, bool(loaded.config.readonly)


def run(args) -> int:
    settings, config_readonly = _settings(args)
    if settings is None:
        return EXIT_CONFIG
    if args.what in MUTATING and (getattr(args, "readonly", False) or config_readonly):
        print(f"servedeck container {args.what}: refused in read-only mode", file=sys.stderr)
        return EXIT_REFUSED
    from servedeck.backends.base import BackendError
    from servedeck.backends.runs.helper import HelperContainer, HelperError

    helper = HelperContainer(settings)
    try:
        return _dispatch(args, helper)
    except HelperError as exc:
        print(f"servedeck container {args.what}: {exc.message}", file=sys.stderr)
        if exc.tail:
            print(f"--- last {len(exc.tail)} lines of the container log ---", file=sys.stderr)
            for line in exc.tail:
                print(line, file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_FAILED
    except BackendError as exc:
        print(f"servedeck container {args.what}: {exc.message}", file=sys.stderr)
        return EXIT_UNREACHABLE if not exc.reachable else EXIT_FAILED
    finally:
        helper.close()


def _dispatch(args, helper) -> int:
    what = args.what
    if what == "start":
        helper.start(emit=lambda line: print(line, flush=True))
    elif what == "stop":
        if not confirmed(f"remove container {helper.settings.container}?", args.yes):
            print("servedeck container stop: not confirmed (pass --yes)", file=sys.stderr)
            return EXIT_REFUSED
        print(helper.stop())
    elif what == "status":
        return _status(helper, as_json=args.json)
    elif what == "serve":
        print(helper.serve())
    elif what == "unserve":
        print(helper.unserve())
    elif what == "build":
        from servedeck.backends.runs.image import build_helper_image, build_standin_image

        client = helper.client()
        s = helper.settings
        image_id = build_standin_image(client, s.image) if args.standin else build_helper_image(client, s.image, s.base_image)
        print(f"built {s.image} ({image_id[:19]})")
    return EXIT_OK


def _status(helper, *, as_json: bool) -> int:
    from servedeck.text import safe

    status = helper.status()
    if as_json:
        print(json.dumps(dataclasses.asdict(status), indent=2))
    else:
        print(f"container {safe(status.container)}: {status.state}"
              + (f" ({status.container_id}, {safe(status.image)})" if status.container_id else ""))
        if not status.pointer:
            print(f"pointer {helper.settings.pointer_file}: empty")
        for key, value in status.pointer.items():
            print(f"{key}={safe(value)}")
        if status.run_id:
            print(f"run {safe(status.run_id)}: manifest {status.manifest_state}, "
                  + (f"{len(status.warnings)} warning(s)" if status.warnings else "no warnings (valid for benchmarking)"))
        for warning in status.warnings:
            print(f"WARNING: {safe(warning)}")
    return EXIT_OK if status.state == "running" else EXIT_FAILED

