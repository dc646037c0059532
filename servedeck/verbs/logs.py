"""`servedeck logs KIND/NAME [--follow] [--tail N]`: a log source's lines on stdout.

The same sources as the logs pane (container/NAME, run/ID, file/PATH). Terminal control
sequences are removed (colour is kept when stdout is a terminal); status sentences (the
source ended, was rotated, the daemon is away) go to stderr. Ctrl-C and a closed pipe
(`| head`) end it quietly.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from servedeck.verbs.common import load_fleet
import threading

EXIT_OK, EXIT_NOT_FOUND, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("logs", parents=[parent], help="print a log source: container/NAME, run/ID, file/PATH")
    p.add_argument("spec", metavar="KIND/NAME", help="container/NAME, run/ID or file/PATH")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    p.add_argument("-n", "--tail", type=int, default=-1, metavar="N", help="only the last N lines (default: all)")
    p.set_defaults(handler=run)


def load_runners(args):
    """The configured backends' fleet, or None after printing the config's problems."""
    found = load_fleet(args)
    return None if found is None else found[1]


def run(args) -> int:
    from servedeck.backends.logs.source import UnknownLogSource, split_spec

    try:
        kind, _ = split_spec(args.spec)
    except UnknownLogSource as exc:
        print(f"servedeck logs: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    fleet = None
    if kind != "file":
        fleet = load_runners(args)
        if fleet is None:
            return EXIT_CONFIG
    try:
        return stream(args.spec, fleet.runners if fleet else [], follow=args.follow, tail=args.tail)
    finally:
        if fleet is not None:
            fleet.close()


def stream(spec: str, runners, *, follow: bool, tail: int, out=None, err=None) -> int:
    from servedeck.backends.logs.resolve import resolve
    from servedeck.backends.logs.source import UnknownLogSource

    err = err or sys.stderr
    try:
        source = resolve(spec, runners)
    except UnknownLogSource as exc:
        print(f"servedeck logs: {exc}", file=err)
        return EXIT_NOT_FOUND
    return print_source(source, follow=follow, tail=tail, out=out, err=err)


def print_source(source, *, follow: bool, tail: int, out=None, err=None) -> int:
    """Print a LogSource's lines until it ends (or forever with follow); the exit code."""
    from servedeck.secrets import redact
    from servedeck.text import strip_control

    out = out or sys.stdout
    err = err or sys.stderr
    colour = out.isatty()
    stop = threading.Event()
    lines = problems = 0
    try:
        for event in source.events(tail=tail, follow=follow, stop=stop):
            if event.kind == "status":
                problems += 1
                print(f"servedeck logs: {strip_control(event.text)}", file=err, flush=True)
                continue
            lines += 1
            text = redact(strip_control(event.text, keep_sgr=colour))
            out.write(text + ("\x1b[0m\n" if colour and "\x1b" in text else "\n"))
            if follow:
                out.flush()
        out.flush()
    except KeyboardInterrupt:
        stop.set()
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        stop.set()
        _silence_stdout()
        return EXIT_OK
    finally:
        stop.set()
    return EXIT_NOT_FOUND if problems and not lines else EXIT_OK


def _silence_stdout() -> None:
    """After `| head` closed the pipe: point stdout at /dev/null so exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
