"""The long-running orchestrator: one lock, the engine's loop, /metrics, the control socket.

An exclusive flock on STATE_DIR/lock keeps a second orchestrator (a forgotten `run`, a
systemd restart racing a manual one) off the same state: two would submit duplicates.
SIGTERM/SIGINT stop the loop gracefully: workers keep running and the next start adopts
them. Control commands change the state under the engine's lock and wake the loop.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from typing import Any

from servedeck.orchestrator import status
from servedeck.orchestrator.config import SGOrchConfig
from servedeck.orchestrator.control import ControlServer
from servedeck.orchestrator.engine import Engine
from servedeck.orchestrator.logging_json import log
from servedeck.orchestrator.state import SERVING, Transition


class AlreadyRunning(Exception):
    """Another orchestrator holds the state directory."""


class Service:
    def __init__(self, config: SGOrchConfig, engine: Engine | None = None):
        self.config = config
        self._lock_fd = self._take_lock()
        self.engine = engine or Engine(config)
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.control = ControlServer(config.orchestrator.socket_path(), self.handle)
        self.metrics_port: int | None = None
        self._closed = False

    def _take_lock(self) -> int:
        state_dir = self.config.orchestrator.state_path()
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AlreadyRunning(f"another orchestrator already runs on {state_dir}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        m = self.config.orchestrator.metrics
        if m.enabled:
            self.metrics_port = self.engine.metrics.serve(m.bind, m.port)
        self.control.start()
        log("orchestrator_start", f"managing {len(self.config.deployments)} deployments; "
                                  f"control socket {self.control.path}" +
            (f"; metrics on {m.bind}:{self.metrics_port}" if self.metrics_port else ""))

    def run(self, install_signals: bool = True) -> None:
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        try:
            self.start()
            self.engine.run_pass(force=True)  # the first pass adopts what runs
            while not self.stop_event.is_set():
                wait = min(self.engine.run_pass(), self.config.orchestrator.tick_s)
                if self.wake.wait(timeout=max(0.05, wait)):
                    self.wake.clear()
                    if not self.stop_event.is_set():
                        self.engine.run_pass(force=True)
        finally:
            self.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.control.stop()
        self.engine.metrics.close()
        self.engine.close()
        log("orchestrator_stop", "stopped; workers keep running and are adopted on the next start")
        os.close(self._lock_fd)

    # -- control commands ---------------------------------------------------------------

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        name = request.get("deployment")
        if cmd == "status":
            with self.engine.lock:
                doc = status.build(self.config, self.engine.state, time.time(), running=True,
                                   deployment=name, metrics_port=self.metrics_port,
                                   probes=self.engine.node_prober.results, tunnels=self.engine.tunnels.rows)
            return {"ok": True, "message": "", "status": doc}
        if self.engine.readonly:
            return {"ok": False, "message": f"refused: {cmd} changes state (the orchestrator runs read-only)"}
        dep = self.config.deployment(str(name)) if name is not None else None
        if dep is None:
            return {"ok": False, "message": f"unknown deployment {name!r}"}
        with self.engine.lock:
            s = self.engine.state.deployment(dep.name)
            message = self._command(cmd, dep, s, request)
            if message.startswith("refused"):
                return {"ok": False, "message": message}
            s.add(Transition(time.time(), "-", "", "control", message))
            self.engine.store.save(self.engine.state)
        log("control", message, deployment=dep.name)
        self.wake.set()
        return {"ok": True, "message": message}

    def _command(self, cmd: Any, dep, s, request: dict[str, Any]) -> str:
        instance = request.get("instance")
        if cmd == "pause":
            s.paused = True
            return f"{dep.name}: paused (no new submissions)"
        if cmd == "resume":
            s.paused = False
            return f"{dep.name}: resumed"
        if cmd == "scale":
            current = s.desired(dep.replicas)
            if "replicas" in request:
                target = request["replicas"]
            else:
                target = current + int(request.get("delta", 0))
            if not isinstance(target, int) or isinstance(target, bool) or target < 0 or target > 10000:
                return "refused: replicas must be an integer from 0 to 10000"
            s.replicas_override = None if target == dep.replicas else target
            return f"{dep.name}: scaled from {current} to {target} replicas"
        if cmd in ("drain", "restart"):
            workers = [w for w in s.workers.values() if w.phase in SERVING and not w.retiring]
            if instance is not None:
                workers = [w for w in workers if w.instance_id == instance or w.job_id == str(instance)]
                if not workers:
                    return f"refused: no serving worker {instance!r} in {dep.name}"
            if cmd == "restart":
                for w in workers:
                    w.retiring = True  # replacement first, then drain: no capacity gap
                return f"{dep.name}: restarting {len(workers)} worker(s), replacements first"
            if instance is None:
                s.replicas_override = 0
                return f"{dep.name}: draining all workers (scaled to 0; scale up to bring them back)"
            workers[0].drain_requested = True
            w = workers[0]
            return f"{dep.name}: draining worker {w.instance_id} (job {w.job_id or '-'}); it will be replaced"
        return f"refused: unknown command {cmd!r} (one of status, drain, restart, scale, pause, resume)"

