"""Runs the real `pylet start` (head or worker) with its listeners on 127.0.0.1.

Pylet 0.5 binds 0.0.0.0 whatever it is given (uvicorn for the head, aiohttp for the
worker's HTTP port). The lab keeps everything on loopback, so this launcher pins the
bind address before handing over to Pylet's own CLI; nothing else of Pylet changes.
Used inside the lab's Compose images (it needs only Pylet and its dependencies).
"""

from __future__ import annotations

import sys

LOOPBACK = "127.0.0.1"


def pin_loopback() -> None:
    import uvicorn
    from aiohttp import web

    real_run = uvicorn.run

    def run(*args, **kwargs):
        kwargs["host"] = LOOPBACK
        return real_run(*args, **kwargs)

    class LoopbackSite(web.TCPSite):
        def __init__(self, runner, host=None, port=None, **kwargs):
            super().__init__(runner, LOOPBACK, port, **kwargs)

    uvicorn.run = run
    web.TCPSite = LoopbackSite


def main() -> int:
    pin_loopback()
    from pylet.cli import cli

    return cli.main(args=sys.argv[1:], prog_name="pylet", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
