"""Docker Engine: reuse one that answers, else run dockerd (vfs, no iptables) under DIR/docker."""

from __future__ import annotations

import os

from servedeck.lab.procs import run
from servedeck.lab.services.base import Context, Waiter, find

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def engine_answers(host: str | None = None) -> bool:
    env = {"DOCKER_HOST": host} if host else None
    done = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=10, env=env)
    return done is not None and done.returncode == 0 and bool(done.stdout.strip())


def start_docker(ctx: Context) -> Waiter | None:
    """Reuse the engine that answers, or (none answers, or `ctx.own_docker`) start one.

    An engine of the lab's own listens on DIR/docker/docker.sock with its data and exec
    roots under DIR and no bridge, so it can be stopped and started again (the fault
    tests do) without touching a shared engine on /var/run/docker.sock."""
    current = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if not ctx.own_docker and find("docker") and engine_answers():
        ctx.reuse("dockerd", url=current)
        ctx.info.docker_url = current
        ctx.log(f"docker: an engine already answers at {current}; reusing it")
        return None
    binary = find("dockerd", "/usr/sbin")
    if binary is None or find("docker") is None:
        ctx.log("docker: not installed (apt-get install docker.io); skipped")
        return None
    d = ctx.path("docker", "x").parent
    socket = f"unix://{d / 'docker.sock'}" if ctx.own_docker else DEFAULT_SOCKET
    extra = ["--bridge=none"] if ctx.own_docker else []  # docker0 belongs to the shared engine
    rec = ctx.launch("dockerd", [
        binary, "--storage-driver=vfs", "--iptables=false", "-H", socket, *extra,
        f"--data-root={d / 'data'}", f"--exec-root={d / 'exec'}", f"--pidfile={d / 'docker.pid'}",
    ], url=socket)

    def ready() -> None:
        ctx.await_ready(rec, lambda: engine_answers(socket), "answer `docker info`", timeout=60)
        ctx.info.docker_url = socket
        ctx.info.save()
    return ready
