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
        await pilot.pause(settle)
        app.show_pane(pane)
        await pilot.pause(settle)
        app.save_screenshot(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--pane", default="overview")
    parser.add_argument("--out", default="docs/screenshot.svg")
    parser.add_argument("--size", default="140x36")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to let backends poll")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.split("x"))
    asyncio.run(shoot(args.config, args.pane, args.out, (cols, rows), args.settle))
    print(args.out)


if __name__ == "__main__":
    main()
