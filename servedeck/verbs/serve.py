"""`servedeck serve [--host 127.0.0.1] [--port 8765] [--config FILE]`: the cockpit in a browser."""

from __future__ import annotations

import argparse
import os

from servedeck.verbs.common import EXIT_OK, add_common


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[parent], help="serve the cockpit as a web page (textual-serve)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; elsewhere a token is required)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--public-url", help="the URL browsers use, when it is not http://HOST:PORT (a proxy, 0.0.0.0)")
    add_common(p)
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args) -> int:
    from servedeck.verbs.common import load_config_or_report
    from servedeck.webserve import CockpitServer, choose_token, cockpit_command

    config = getattr(args, "config", None)
    if config is not None and load_config_or_report(args) is None:
        return 2  # the config's problems are printed, one located line each
    token, note = choose_token(args.host, os.environ)
    print(f"servedeck serve: {note}", flush=True)
    command = cockpit_command(os.path.abspath(config) if config else None, bool(getattr(args, "readonly", False)))
    CockpitServer(command, host=args.host, port=args.port, token=token, public_url=args.public_url).serve()
    return EXIT_OK
