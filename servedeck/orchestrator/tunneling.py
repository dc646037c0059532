"""Tunnels for the tunneled connectivity modes, over servedeck's SSH pool and Tunnel.

`local` (-L): the orchestrator listens on advertise_host:local_port and forwards through
the deployment's ssh host to node:port; the router is given the local end. Tunnels are
keyed by instance id and re-opened when missing (after a restart: adoption). In direct
mode every call is a no-op. `reverse` (-R) is opened by the job itself and is not
supervised here (see the report).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from servedeck.orchestrator.config import Deployment, SGOrchConfig
from servedeck.orchestrator.logging_json import log


UP_WAIT_S = 10.0  # how long opening a tunnel may hold up a pass before its worker is probed


def ssh_name(dep: Deployment) -> str:
    return f"sgorch-{dep.name}"


class Tunnels:
    def __init__(self, config: SGOrchConfig):
        self.config = config
        self._pools: dict[str, Any] = {}  # ssh host name -> SSHPool holding just that host
        self._open: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    @staticmethod
    def _tunneled(dep: Deployment) -> bool:
        return dep.connectivity.mode == "tunneled" and dep.connectivity.tunnel_mode == "local"

    def _pool(self, dep: Deployment, node: str) -> tuple[Any, str, str]:
        """(pool, ssh host name, far host): through connectivity.ssh.hostname to node:port,
        or (without one, as the seed does) into the node itself to its 127.0.0.1:port."""
        from servedeck.backends.ssh.pool import SSHPool

        via = dep.connectivity.ssh.hostname
        name = ssh_name(dep) if via else f"{ssh_name(dep)}@{node}"
        if name not in self._pools:
            self._pools[name] = SSHPool({name: dep.connectivity.ssh.host(node)})
        return self._pools[name], name, node if via else "127.0.0.1"

    def ensure(self, dep: Deployment, worker, avoid: frozenset[int] = frozenset()) -> None:
        """Open the worker's -L tunnel if it is not open; fills local_port and url. A new
        local port is none of `avoid` (ports the router may still list a worker on)."""
        if not self._tunneled(dep) or not worker.node:
            return
        from servedeck.backends.base import BackendError
        from servedeck.backends.ssh.forward import Tunnel, TunnelSpec

        key = (dep.name, worker.instance_id)
        with self._lock:
            if key in self._open:
                return
            c = dep.connectivity
            try:
                port = worker.local_port or self._free_port(dep, avoid)
            except RuntimeError as exc:
                log("tunnel_error", str(exc), level=logging.WARNING, deployment=dep.name)
                return
            pool, ssh, far = self._pool(dep, worker.node.split(",")[0])
            spec = TunnelSpec(name=f"{dep.name}-{worker.instance_id}", ssh=ssh, mode="local",
                              local_host=c.orchestrator_host, local_port=port, remote_host=far,
                              remote_port=worker.port)
            tunnel = Tunnel(spec, pool)
            try:
                tunnel.start()
            except BackendError as exc:
                log("tunnel_error", exc.message, level=logging.WARNING, deployment=dep.name)
                return
            self._open[key] = tunnel
            self._taken.add(port)
        # start() connects in the background: a probe through a tunnel not yet up is reset
        # and counted as a failure (a re-opened tunnel's worker was replaced that way).
        tunnel.wait_up(UP_WAIT_S)
        worker.local_port = port
        worker.tunnel = spec.name
        worker.url = f"http://{c.advertise_host}:{port}"
        log("tunnel_open", f"tunnel {spec.local} -> {spec.remote}", deployment=dep.name,
            job_id=worker.job_id, worker_url=worker.url)

    def reserve(self, dep: Deployment, exclude: set[int]) -> int:
        """A local port for a reverse tunnel the job will open (-R lands here)."""
        with self._lock:
            self._taken |= exclude
            port = self._free_port(dep)
            self._taken.add(port)
        return port

    def release(self, port: int) -> None:
        with self._lock:
            self._taken.discard(port)

    def _free_port(self, dep: Deployment, avoid: frozenset[int] = frozenset()) -> int:
        from servedeck.backends.ssh.ports import bindable, listening_ports

        lo, hi = dep.connectivity.local_port_range
        busy = listening_ports() | self._taken | avoid
        for port in range(lo, hi + 1):
            if port not in busy and bindable(port, dep.connectivity.orchestrator_host):
                return port
        raise RuntimeError(f"no free local port in {lo}-{hi}")

    def close(self, dep: Deployment, worker) -> None:
        with self._lock:
            tunnel = self._open.pop((dep.name, worker.instance_id), None)
        if tunnel is not None:
            tunnel.stop()
            self._taken.discard(tunnel.spec.local_port)

    def rows(self, deployment: str) -> list[dict[str, Any]]:
        """The deployment's open tunnels as the Tunnels pane draws them (TunnelRow fields)."""
        from dataclasses import asdict

        with self._lock:
            tunnels = [t for (name, _), t in self._open.items() if name == deployment]
        return [asdict(t.row()) for t in tunnels]

    def up_count(self, dep: Deployment) -> int:
        with self._lock:
            return sum(1 for (name, _), t in self._open.items() if name == dep.name and t.state == "up")

    def close_all(self) -> None:
        with self._lock:
            tunnels, self._open = list(self._open.values()), {}
        for tunnel in tunnels:
            tunnel.stop()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
