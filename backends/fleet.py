"""The set of configured backends, ready to poll: shared by the CLI and the TUI."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable

from servedeck.backends.base import BackendContext, PaneSpec, Snapshot
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

    def poll_all(self, wanted: Iterable[str] | None = None) -> dict[str, Snapshot]:
        """Poll every backend at once (threads), for one-shot use such as `status`."""
        if not self.runners:
            return {}

        def one(runner: BackendRunner) -> Snapshot:
            keys = {p.key for p in runner.backend.panes}
            want = frozenset(keys if wanted is None else keys & set(wanted))
            return runner.poll_once(want) or runner.snapshot

        with ThreadPoolExecutor(max_workers=min(16, len(self.runners))) as pool:
            return {s.backend: s for s in pool.map(one, self.runners)}

    def close(self) -> None:
        for runner in self.runners:
            runner.close()
        pool = self.context.extras.get("ssh")
        if pool is not None and hasattr(pool, "close"):
            pool.close()


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
