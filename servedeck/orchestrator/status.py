"""The status document: per deployment desired/ready/unhealthy, per worker its details,
and the recent timeline. Served by the control socket, printed by `orchestrate status`
(from the state file when no orchestrator runs), shown by the TUI's deployments pane.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable, Mapping

from servedeck.orchestrator import policy
from servedeck.orchestrator.config import SGOrchConfig
from servedeck.orchestrator.state import READY, UNHEALTHY, State

TIMELINE_SHOWN = 50


def build(config: SGOrchConfig, state: State, now: float, *, running: bool, deployment: str | None = None,
          metrics_port: int | None = None, probes: Callable[[str], Mapping[str, Any]] | None = None,
          tunnels: Callable[[str], list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """`probes(deployment)` gives the node probes' last results by worker url, if any run;
    `tunnels(deployment)` the -L tunnels it holds open (TunnelRow fields), if it holds any."""
    out: dict[str, Any] = {"running": running, "ts": now, "metrics_port": metrics_port, "deployments": []}
    for dep in config.deployments:
        if deployment and dep.name != deployment:
            continue
        s = state.deployment(dep.name)
        workers = sorted(s.workers.values(), key=lambda w: w.phase_since)
        probed = probes(dep.name) if probes else {}
        out["deployments"].append({
            "name": dep.name,
            "desired": s.desired(dep.replicas),
            "configured": dep.replicas,
            "ready": sum(1 for w in workers if w.phase == READY),
            "registered": sum(1 for w in workers if w.registered),
            "unhealthy": sum(1 for w in workers if w.phase == UNHEALTHY or (w.phase == READY and w.fail_streak)),
            "paused": s.paused,
            "mode": dep.connectivity.mode if dep.connectivity.mode == "direct"
            else f"tunneled-{dep.connectivity.tunnel_mode}",
            "breaker": policy.breaker_state(s, dep.policy, now),
            "failures": s.failures,
            "blacklist": {n: round(until - now, 1) for n, until in s.blacklist.items() if until > now},
            "restarts": dict(s.restarts),
            "workers": [{**asdict(w), "time_in_phase_s": round(now - w.phase_since, 1),
                         "probe": probed[w.url].as_dict() if w.url in probed else None} for w in workers],
            "prometheus_port": dep.launch.prometheus_port,
            "tunnels": tunnels(dep.name) if tunnels else [],
            "timeline": [asdict(t) for t in s.timeline[-TIMELINE_SHOWN:]],
        })
    return out


def render_text(doc: dict[str, Any]) -> str:
    lines = [f"orchestrator {'running' if doc['running'] else 'NOT running (from the state file)'}"]
    for d in doc["deployments"]:
        flags = [f for f, on in (("paused", d["paused"]), (f"breaker {d['breaker']}", d["breaker"] != "closed")) if on]
        lines.append(f"{d['name']}: desired {d['desired']}, ready {d['ready']}, registered {d['registered']}, "
                     f"unhealthy {d['unhealthy']} [{d['mode']}]" + (f" ({', '.join(flags)})" if flags else ""))
        for w in d["workers"]:
            lines.append(f"  {w['instance_id']}  job {w['job_id'] or '-':>6}  {w['phase']:<10} "
                         f"{w['url'] or '-':<28} {'registered' if w['registered'] else '':<10} "
                         f"{w['time_in_phase_s']:>7.1f}s  {w['reason']}")
        if d["blacklist"]:
            lines.append("  blacklisted: " + ", ".join(f"{n} ({s:.0f}s)" for n, s in d["blacklist"].items()))
    return "\n".join(lines)
