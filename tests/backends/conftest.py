"""Fixtures for the backend integration tests: a local busybox image and clients for the lab."""

from __future__ import annotations

import shutil
import uuid
from typing import Iterator

import docker
import pytest

from servedeck.backends.ssh import SSHPool
from servedeck.config.model import SSHHost

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


@pytest.fixture
def lab_ssh_host(lab) -> SSHHost:
    s = lab.ssh
    return SSHHost(hostname=s.host, port=s.port, user=s.user, key_file=s.key_file,
                   known_hosts=s.known_hosts, connect_timeout_s=10)


@pytest.fixture
def ssh_pool(lab_ssh_host) -> Iterator[SSHPool]:
    pool = SSHPool({"lab": lab_ssh_host})
    yield pool
    pool.close()
