"""A real Compose project for the compose tests: busybox services (built here, nothing is
pulled) on host networking, brought up and down by the real Compose CLI."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from support import PORT_OFFSET

PREFIX = f"sdcompose{PORT_OFFSET}"
IMAGE = f"{PREFIX}-busybox:latest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_busybox(client, ctx_dir: Path) -> str:
    shutil.copy("/bin/busybox", ctx_dir / "busybox")
    (ctx_dir / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n')
    client.images.build(path=str(ctx_dir), tag=IMAGE, rm=True, network_mode="host")
    return IMAGE


def loop(word: str) -> list[str]:
    return ["sh", "-c", f"trap 'exit 0' TERM; i=0; while true; do i=$$((i+1)); echo {word}-$$i; sleep 0.3; done & wait"]


def services(port: int) -> dict:
    """db (healthy httpd) <- web (waits for db healthy); bad fails its check; once exits 3."""
    fast = {"interval": "1s", "timeout": "2s", "retries": 2}
    return {
        "db": {
            "image": IMAGE, "network_mode": "host", "volumes": ["data:/data"],
            "command": ["sh", "-c", f"echo db-ready; mkdir -p /w && echo ok >/w/index.html && "
                                    f"exec httpd -f -p 127.0.0.1:{port} -h /w"],
            "healthcheck": {"test": ["CMD", "wget", "-q", "-O-", f"http://127.0.0.1:{port}/"], **fast},
            "stop_grace_period": "1s",
        },
        "web": {
            "image": IMAGE, "network_mode": "host", "command": loop("web-line"),
            "depends_on": {"db": {"condition": "service_healthy"}}, "stop_grace_period": "1s",
        },
        "bad": {
            "image": IMAGE, "network_mode": "host", "command": loop("bad-line"),
            "healthcheck": {"test": ["CMD", "false"], **fast}, "stop_grace_period": "1s",
        },
        "once": {"image": IMAGE, "network_mode": "host", "command": ["sh", "-c", "echo once-ran; exit 3"]},
    }


@dataclass
class Project:
    name: str
    dir: Path
    docker_url: str
    port: int

    @property
    def file(self) -> Path:
        return self.dir / "docker-compose.yml"

    def write(self, spec: dict) -> None:
        self.file.write_text(yaml.safe_dump(spec, sort_keys=False))

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["docker-compose", "-p", self.name, "-f", str(self.file), *args], cwd=self.dir,
                              env={"PATH": "/usr/bin:/bin:/usr/local/bin", "DOCKER_HOST": self.docker_url},
                              capture_output=True, text=True, timeout=180, check=check)


def new_project(root: Path, docker_url: str) -> Project:
    name = f"{PREFIX}x{uuid.uuid4().hex[:6]}"
    project = Project(name=name, dir=root / name, docker_url=docker_url, port=free_port())
    project.dir.mkdir(parents=True)
    project.write({"services": services(project.port), "volumes": {"data": {}}})
    return project
