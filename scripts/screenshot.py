"""Saves an SVG screenshot of the cockpit on a config (the README's picture).

    .venv/bin/python scripts/screenshot.py --config .lab/servedeck.yaml --out docs/screenshot.svg
"""

from __future__ import annotations

import argparse
import asyncio

from servedeck.app.main_app import ServedeckApp
from servedeck.config import load_config


async def shoot(config: str, pane: str, out: str, size: tuple[int, int], settle: float) -> None:
    app = ServedeckApp(load_config(config))
    async with app.run_test(size=size) as pilot:
        app.show_pane(pane)
        await _polled(app, pilot, settle)
        await pilot.pause(1.0)  # a second round of polls: rates and the event feed have moved
        await _polled(app, pilot, settle)
        app.save_screenshot(out)


async def _polled(app, pilot, limit: float) -> None:
    """Until every backend has answered once and the shown pane is drawn (at most `limit` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        polled = all(s.state.health.value != "unknown" for s in app.snapshots.values())
        if polled and not app.poller.in_flight and not getattr(app, "_joined_pending", False):
            break
        await pilot.pause(0.1)
    await pilot.pause()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--pane", default="overview")
    parser.add_argument("--out", default="docs/screenshot.svg")
    parser.add_argument("--size", default="180x50")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds backends may take to answer")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.split("x"))
    asyncio.run(shoot(args.config, args.pane, args.out, (cols, rows), args.settle))
    print(args.out)


if __name__ == "__main__":
    main()
