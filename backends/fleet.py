"""The set of configured backends, ready to poll: shared by the CLI and the TUI."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Iterable

from servedeck.backends.base import BackendContext, BackendState, Health, PaneSpec, Snapshot
from servedeck.backends.runner import BackendRunner


@dataclass
class Fleet:
    runners: list[BackendRunner]
    context: BackendContext = field(default_factory=BackendContext)

    @classmethod
    def from_config(cls, loaded) -> "Fleet":
        """Build every enabled target of a `LoadedConfig` with one shared context."""
        context = make_context(loaded.config)
        return cls([BackendRunner(b) for b in loaded.build_backends(context)], context)

    def by_name(self, name: str) -> BackendRunner | None:
        return next((r for r in self.runners if r.name == name), None)

    def pane_specs(self) -> dict[str, PaneSpec]:
        """Every pane some configured backend feeds, first declaration wins."""
        specs: dict[str, PaneSpec] = {}
        for runner in self.runners:
            for spec in runner.backend.panes:
                specs.setdefault(spec.key, spec)
        return specs

    def poll_all(self, wanted: Iterable[str] | None = None, *, deadline: float | None = None) -> dict[str, Snapshot]:
        """Poll every backend at once, for one-shot use such as `status`. With a deadline
        (seconds for the whole fleet), a backend still busy then is reported down with
        "no answer within" instead of holding up the others; its thread is a daemon, so
        it does not hold up the process either."""
        if not self.runners:
            return {}
        wanted = None if wanted is None else set(wanted)
        results: dict[str, Snapshot] = {}
        done = threading.Condition()

        def one(runner: BackendRunner) -> None:
            keys = {p.key for p in runner.backend.panes}
            want = frozenset(keys if wanted is None else keys & wanted)
            snapshot = runner.snapshot
            try:
                snapshot = runner.poll_once(want) or runner.snapshot
            finally:  # the runner turns failures into states; this is for the unforeseen
                with done:
                    results[runner.name] = snapshot
                    done.notify_all()

        for runner in self.runners:
            threading.Thread(target=one, args=(runner,), daemon=True, name=f"poll {runner.name}").start()
        until = None if deadline is None else time.monotonic() + deadline
        with done:
            while len(results) < len(self.runners):
                remaining = None if until is None else until - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                done.wait(remaining)
            answered = dict(results)
        out = {}
        for runner in self.runners:  # in configuration order, like the panes
            out[runner.name] = answered.get(runner.name) or _late(runner, deadline)
        return out

    def close(self) -> None:
        for runner in self.runners:
            runner.close()
        pool = self.context.extras.get("ssh")
        if pool is not None and hasattr(pool, "close"):
            pool.close()


def _late(runner: BackendRunner, deadline: float | None) -> Snapshot:
    snapshot = runner.snapshot
    state = BackendState(Health.DOWN, f"no answer within {deadline:g}s",
                         hint=f"the {runner.backend.kind} backend is slow or hangs; check it, or raise --deadline")
    return replace(snapshot, state=state)


def make_context(config) -> BackendContext:
    """Shared services for backends: one SSH connection pool for every ssh host."""
    from servedeck.backends.router.match import Board

    extras: dict = {"board": Board()}  # rows backends share to match workers, jobs and tunnels
    if config.ssh:
        try:
            from servedeck.backends.ssh.pool import SSHPool
        except ImportError:  # the SSH layer is optional until a target needs it
            SSHPool = None
        if SSHPool is not None:
            extras["ssh"] = SSHPool(config.ssh)
    return BackendContext(extras=extras)
