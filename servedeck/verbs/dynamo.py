"""`servedeck dynamo build|run`: Dynamo's container/build.sh and run.sh, faithfully.

Every flag after `build`/`run` is the script's own (same defaults, errors and exit codes);
servedeck adds only `--repo DIR` (the Dynamo checkout, default: the current directory),
`--host NAME` (a `dynamo` target of the config; default: the first one, else the local
socket) and `--config FILE`, taken out before the script's flags are read (never after
run.sh's `--`). `--dry-run` prints what the pinned script prints, tokens masked; without
it the builds run on the Docker host with live progress (and show in the Builds pane of
any cockpit sharing the state dir), and run.sh's container runs through the SDK.
"""

from __future__ import annotations

import argparse
import sys

from servedeck.verbs.common import EXIT_CONFIG, EXIT_REFUSED, is_readonly, load_config_or_report

OWN_FLAGS = ("--repo", "--host", "--config")


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    dynamo = sub.add_parser("dynamo", parents=[parent], help="Dynamo container builds and runs (build.sh, run.sh)")
    verbs = dynamo.add_subparsers(dest="dynamo_verb", metavar="ACTION", required=True)
    for verb, what in (("build", "container/build.sh"), ("run", "container/run.sh")):
        # '+' as prefix: every '-' word is the script's, passed through untouched (incl. -h, --).
        p = verbs.add_parser(verb, prefix_chars="+", add_help=False,
                             help=f"{what}: the same flags; plus --repo DIR, --host NAME, --config FILE")
        p.add_argument("script_args", nargs=argparse.REMAINDER)
        p.set_defaults(handler=cmd_build if verb == "build" else cmd_run)


def split_own(words: list[str], stop_at_dashdash: bool) -> tuple[dict[str, str], list[str]] | str:
    """servedeck's own flags out of the script's words; an error text when one lacks its value."""
    own: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if stop_at_dashdash and w == "--":
            rest += words[i:]
            break
        name, eq, value = w.partition("=")
        if name in OWN_FLAGS:
            if not eq:
                if i + 1 >= len(words):
                    return f"servedeck dynamo: {name} needs a value"
                value = words[i + 1]
                i += 1
            own[name[2:]] = value
        else:
            rest.append(w)
        i += 1
    return own, rest


def _settings(args, own: dict[str, str]):
    """The dynamo target to use, or an exit code after saying why."""
    import os

    from servedeck.backends.dynamo.backend import DynamoSettings

    if "config" in own:
        args.config = own["config"]
    loaded = load_config_or_report(args)
    if loaded is None:
        return EXIT_CONFIG, None
    targets = [t for t in loaded.targets if getattr(t, "kind", None) == "dynamo"]
    settings = [t.settings for t in targets] if targets else []
    if "host" in own:
        chosen = [s for s in settings if s.name == own["host"]]
        if not chosen:
            names = ", ".join(s.name for s in settings) or "none"
            print(f"servedeck dynamo: no dynamo target {own['host']!r} in the config (have: {names})", file=sys.stderr)
            return EXIT_CONFIG, None
        return chosen[0], loaded
    if settings:
        return settings[0], loaded
    return DynamoSettings(name="local", url=os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"), loaded


def _prepare(args, stop_at_dashdash: bool):
    split = split_own(list(args.script_args), stop_at_dashdash)
    if isinstance(split, str):
        print(split, file=sys.stderr)
        return EXIT_CONFIG, None, None, None
    own, rest = split
    settings, loaded = _settings(args, own)
    if isinstance(settings, int):
        return settings, None, None, None
    repo = own.get("repo") or settings.repo or "."
    return None, settings, loaded, (repo, rest)


def _refused(args, loaded, rest: list[str], verb: str) -> bool:
    words = rest[: rest.index("--")] if "--" in rest else rest
    if "--dry-run" in words or any(w in ("-h", "--help", "-?") for w in words):
        return False
    if loaded is not None and is_readonly(args, loaded):
        print(f"servedeck dynamo {verb}: refused: it changes the Docker host (read-only mode)", file=sys.stderr)
        return True
    return False


def cmd_build(args) -> int:
    from servedeck.backends.dynamo.session import BuildSession

    code, settings, loaded, found = _prepare(args, stop_at_dashdash=False)
    if code is not None:
        return code
    repo, rest = found
    if _refused(args, loaded, rest, "build"):
        return EXIT_REFUSED
    session = BuildSession(settings, repo=repo)
    return session.build(rest, emit=_out, on_start=lambda inv: print(
        f"servedeck: builds of invocation {inv} are recorded in {session.store.root}", file=sys.stderr))


def cmd_run(args) -> int:
    from servedeck.backends.dynamo.session import RunSession

    code, settings, loaded, found = _prepare(args, stop_at_dashdash=True)
    if code is not None:
        return code
    repo, rest = found
    if _refused(args, loaded, rest, "run"):
        return EXIT_REFUSED
    return RunSession(settings, repo=repo).run(rest, emit=_out)


def _out(line: str) -> None:
    from servedeck.text import strip_control

    print(strip_control(line), flush=True)
