"""`orchestrate adopt`: rebuild the picture once, without a running orchestrator.

It takes the same state lock as `run` (so it never races one), then runs reconcile
passes that may adopt jobs, re-open tunnels, re-register healthy workers and remove
router entries that point at nothing, but never submit. `--dry-run` decides on a copy
and prints the plan. (`run` does the same adoption on its first passes, continuously.)
"""

from __future__ import annotations

import time

from servedeck.orchestrator.config import SGOrchConfig
from servedeck.orchestrator.service import AlreadyRunning, Service


class AdoptionRefused(Exception):
    """An orchestrator already runs on this state (it adopts by itself)."""


def adopt(config: SGOrchConfig, dry_run: bool = False) -> list[str]:
    try:
        service = Service(config)
    except AlreadyRunning as exc:
        raise AdoptionRefused(f"{exc}: it adopts by itself") from None
    engine = service.engine
    lines: list[str] = []
    try:
        engine.allow_submit = False
        engine.dry_run = dry_run
        passes = 1 if dry_run else 1 + max(d.health.consecutive_ok_for_ready for d in config.deployments)
        for i in range(passes):
            engine.run_pass(force=True)
            if i + 1 < passes:
                time.sleep(min(d.health.interval_s for d in config.deployments))
        if dry_run:
            for name, t in engine.dry_timeline:
                lines.append(f"{name}: would note {t.instance_id} -> {t.phase}: {t.reason}")
            for name, e in engine.planned:
                target = e.row.url if e.row is not None else e.instance_id
                lines.append(f"{name}: would {e.kind.replace('_', ' ')} {target}")
        else:
            for dep in config.deployments:
                s = engine.state.deployment(dep.name)
                for w in s.workers.values():
                    lines.append(f"{dep.name}: {w.instance_id} job {w.job_id or '-'} {w.phase}"
                                 f"{' registered' if w.registered else ''} {w.url}".rstrip())
    finally:
        service.close()
    return lines
