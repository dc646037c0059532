"""Under the cockpit, `docker stats` is asked only for the containers whose rows are on
screen: 30 running busybox containers in a short table, the Engine requests the backend
actually sent (its request log) name only on-screen containers, and scrolling brings
the newly shown ones their figures."""

from __future__ import annotations

import re

import pytest

from servedeck.app.main_app import ServedeckApp
from servedeck.config import load_text
from shell_support import wait_for as shell_wait_for

pytestmark = pytest.mark.integration
SIZE = (160, 20)  # about a dozen rows on screen
STATS = re.compile(r"/containers/([0-9a-f]{64})/stats")


async def wait_for(pilot, predicate, timeout: float = 60.0) -> None:
    await shell_wait_for(pilot, predicate, timeout)


def stats_requested(backend) -> set[str]:
    """Full ids of the containers the backend asked the Engine for stats of."""
    return {m.group(1) for _, path in list(backend.requests) if (m := STATS.search(path))}


def cpu_shown(app, full_id: str) -> bool:
    return any(row.full_id == full_id and row.cpu_percent is not None
               for _, row in app._table("containers")._rows.values())


async def test_stats_only_for_rows_on_screen(lab, run_container):
    ours = [run_container("sleep 600") for _ in range(30)]
    ours_ids = {c.id for c in ours}
    config = (f"ui: {{start_pane: containers}}\nbackends:\n  docker:\n"
              f"    - {{name: lab-docker, url: '{lab.docker_url}', interval: 3600}}\n")
    app = ServedeckApp(load_text(config, "test.yaml"))
    backend = app.fleet.runners[0].backend
    ever_shown: set[str] = set()  # every row key the table ever reported on screen
    report = backend.show_rows

    def record(pane, keys):
        ever_shown.update(keys)
        report(pane, keys)

    backend.show_rows = record
    async with app.run_test(size=SIZE) as pilot:
        table = app._table("containers")
        await wait_for(pilot, lambda: ours_ids <= {row.full_id for _, row in table._rows.values()})
        on_screen = {table._rows[k][1].full_id for k in table.rows_on_screen()}
        first = on_screen & ours_ids
        assert first and len(first) < len(ours_ids)  # some of ours on screen, some not
        await wait_for(pilot, lambda: all(cpu_shown(app, cid) for cid in first))
        asked = stats_requested(backend)
        assert first <= asked
        assert not (asked & ours_ids) - {cid for cid in ours_ids if cid[:12] in ever_shown}

        never = ours_ids - first
        assert not asked & never  # rows off screen cost no stats request

        # Bring the lowest of our off-screen rows on screen: it and its neighbours get figures.
        target = max(never, key=lambda cid: table.get_row_index(f"lab-docker\x1f{cid[:12]}"))
        table.move_cursor(row=table.get_row_index(f"lab-docker\x1f{target[:12]}"), animate=False)
        await wait_for(pilot, lambda: target[:12] in ever_shown)
        later = {table._rows[k][1].full_id for k in table.rows_on_screen()} & never
        assert target in later
        await wait_for(pilot, lambda: all(cpu_shown(app, cid) for cid in later))
        asked = stats_requested(backend)
        assert later <= asked
        assert not asked & ours_ids - {cid for cid in ours_ids if cid[:12] in ever_shown}
