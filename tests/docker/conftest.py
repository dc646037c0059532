"""Fixtures for the containers and container-log tests: a locally built busybox image
and containers named with this suite's prefix (removed after each test)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import docker
import pytest

from container_support import PREFIX, build_busybox


@pytest.fixture(scope="session")
def docker_client(lab) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=lab.docker_url, timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox(docker_client, tmp_path_factory) -> str:
    return build_busybox(docker_client, tmp_path_factory.mktemp("sdctr-image"))


@pytest.fixture
def run_container(docker_client, busybox) -> Iterator[Callable[..., docker.models.containers.Container]]:
    """`run_container(script, **kwargs)`: a detached busybox container running `sh -c script`."""
    made = []

    def run(script: str, *, name: str | None = None, **kwargs):
        c = docker_client.containers.run(busybox, ["sh", "-c", script], name=name or f"{PREFIX}{uuid.uuid4().hex[:8]}",
                                          detach=True, network_mode="host", **kwargs)
        made.append(c.name)
        return c

    yield run
    for name in made:
        try:
            docker_client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass


class OwnEngine:
    """A second dockerd on its own socket, data-root and exec-root, that a test may stop
    and start again (the shared engine is never touched). Stopped only by its own pid."""

    def __init__(self, root):
        self.root = root
        self.url = f"unix://{root}/d.sock"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        log = open(self.root / "dockerd.log", "ab")
        self.proc = subprocess.Popen([
            "dockerd", "--storage-driver=vfs", "--iptables=false", "--bridge=none", "-H", self.url,
            f"--data-root={self.root}/data", f"--exec-root={self.root}/x", f"--pidfile={self.root}/d.pid",
            "--containerd-namespace=sdctr", "--containerd-plugins-namespace=sdctr-plugins", "--shutdown-timeout=1",
        ], stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                client = docker.DockerClient(base_url=self.url, timeout=5)
                client.ping()
                client.close()
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dockerd exited: see {self.root}/dockerd.log")
                time.sleep(0.3)
        raise RuntimeError("own dockerd did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture
def own_engine(tmp_path_factory) -> Iterator[OwnEngine]:
    root = Path(tempfile.mkdtemp(prefix="sdctr-", dir="/tmp"))  # short: containerd socket paths
    engine = OwnEngine(root)
    engine.start()
    try:
        yield engine
    finally:
        try:
            client = docker.DockerClient(base_url=engine.url, timeout=30)
            for c in client.containers.list(all=True):
                c.remove(force=True)
            client.close()
        except Exception:
            pass
        engine.stop()
        for point in sorted((line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                             if line.split()[1].startswith(str(root) + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# The backend integration test's own image and a plain sleeping container.
IMAGE = "servedeck-test-busybox:latest"
LABEL = "servedeck.test"


@pytest.fixture(scope="session")
def busybox_image(lab, tmp_path_factory) -> str:
    """FROM scratch + the static busybox: nothing can be pulled here."""
    client = docker.DockerClient(base_url=lab.docker_url, timeout=60)
    ctx = tmp_path_factory.mktemp("busybox-image")
    shutil.copy("/bin/busybox", ctx / "busybox")
    (ctx / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n'
    )
    client.images.build(path=str(ctx), tag=IMAGE, rm=True)
    client.close()
    return IMAGE


@pytest.fixture
def container(lab, busybox_image) -> Iterator[docker.models.containers.Container]:
    client = docker.DockerClient(base_url=lab.docker_url, timeout=60)
    c = client.containers.run(busybox_image, ["sleep", "600"], name=f"sd-test-{uuid.uuid4().hex[:8]}",
                              detach=True, network_mode="host", labels={LABEL: "1"})
    try:
        yield c
    finally:
        c.remove(force=True)
        client.close()
