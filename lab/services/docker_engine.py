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
    current = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if find("docker") and engine_answers():
        ctx.reuse("dockerd", url=current)
        ctx.info.docker_url = current
        ctx.log(f"docker: an engine already answers at {current}; reusing it")
        return None
    binary = find("dockerd", "/usr/sbin")
    if binary is None or find("docker") is None:
        ctx.log("docker: not installed (apt-get install docker.io); skipped")
        return None
    d = ctx.path("docker", "x").parent
    rec = ctx.launch("dockerd", [
        binary, "--storage-driver=vfs", "--iptables=false", "-H", DEFAULT_SOCKET,
        f"--data-root={d / 'data'}", f"--exec-root={d / 'exec'}", f"--pidfile={d / 'docker.pid'}",
    ], url=DEFAULT_SOCKET)

    def ready() -> None:
        ctx.await_ready(rec, lambda: engine_answers(DEFAULT_SOCKET), "answer `docker info`", timeout=60)
        ctx.info.docker_url = DEFAULT_SOCKET
        ctx.info.save()
    return ready
