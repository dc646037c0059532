"""The busybox test image the container tests run (nothing can be pulled here)."""

from __future__ import annotations

import shutil

import docker

IMAGE = "sdctr-busybox:latest"
PREFIX = "sdctr-"


def build_busybox(client: docker.DockerClient, ctx_dir) -> str:
    """FROM scratch + the static busybox: nothing can be pulled here."""
    shutil.copy("/bin/busybox", ctx_dir / "busybox")
    (ctx_dir / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n'
    )
    client.images.build(path=str(ctx_dir), tag=IMAGE, rm=True)
    return IMAGE
