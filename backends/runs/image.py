"""Building the helper image: on an SGLang base (real use), or on static busybox (tests, lab).

Both images run the same `servedeck/helper/init-run.sh`; only what is installed around
it differs, so the stand-in produces the real warnings for the exporters it lacks.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from servedeck.backends.base import BackendError

BUSYBOX = Path("/bin/busybox")
NODE_EXPORTER_CANDIDATES = (Path("/usr/bin/prometheus-node-exporter"), Path("/usr/bin/node_exporter"))
STANDIN_UID = 1000


def helper_files() -> Path:
    """The directory holding Dockerfile, Dockerfile.busybox and init-run.sh."""
    return Path(str(resources.files("servedeck.helper")))


def _build(client: Any, context: Path, tag: str, dockerfile: str = "Dockerfile",
           buildargs: dict[str, str] | None = None) -> str:
    import docker.errors

    try:  # host network: RUN steps work on engines without a bridge (dockerd --iptables=false)
        image, _ = client.images.build(path=str(context), dockerfile=dockerfile, tag=tag, rm=True,
                                       forcerm=True, buildargs=buildargs or {}, network_mode="host")
    except docker.errors.BuildError as exc:
        last = [str(c.get("stream") or c.get("error") or "").strip() for c in exc.build_log]
        raise BackendError(f"building {tag} failed: {exc.msg}; last output: {' | '.join(x for x in last[-3:] if x)}",
                           reachable=True) from None
    except docker.errors.APIError as exc:
        raise BackendError(f"building {tag} failed: {exc.explanation or exc}", reachable=True) from None
    return image.id


def build_helper_image(client: Any, tag: str, base_image: str) -> str:
    """The real helper image: servedeck/helper/Dockerfile on `base_image`."""
    with tempfile.TemporaryDirectory(prefix="servedeck-helper-") as tmp:
        ctx = Path(tmp)
        for name in ("Dockerfile", "init-run.sh"):
            shutil.copy2(helper_files() / name, ctx / name)
        return _build(client, ctx, tag, buildargs={"BASE_IMAGE": base_image})


def _shared_libraries(binary: Path) -> list[Path]:
    """The libraries `ldd` says a dynamically linked binary loads (empty when static)."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=10)
    libs = []
    for line in done.stdout.splitlines():
        for word in line.split():
            if word.startswith("/") and Path(word).exists():
                libs.append(Path(word))
    return libs


def _copy_into(rootfs: Path, source: Path, target: Path | None = None) -> None:
    dest = rootfs / (target or source).relative_to("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source.resolve(), dest)


def build_standin_image(client: Any, tag: str, *, node_exporter: bool = True) -> str:
    """The busybox stand-in: init-run.sh, user `devuser`, and (when installed and wanted)
    Debian's node_exporter with the libraries it links."""
    if not BUSYBOX.exists():
        raise BackendError(f"{BUSYBOX} is missing (apt-get install busybox-static)", reachable=True)
    with tempfile.TemporaryDirectory(prefix="servedeck-standin-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(BUSYBOX, ctx / "busybox")
        shutil.copy2(helper_files() / "Dockerfile.busybox", ctx / "Dockerfile")
        shutil.copy2(helper_files() / "init-run.sh", ctx / "init-run.sh")
        rootfs = ctx / "rootfs"
        (rootfs / "etc").mkdir(parents=True)
        (rootfs / "etc" / "passwd").write_text(
            f"root:x:0:0:root:/root:/bin/sh\ndevuser:x:{STANDIN_UID}:{STANDIN_UID}:devuser:/home/devuser:/bin/sh\n")
        (rootfs / "etc" / "group").write_text(f"root:x:0:\ndevuser:x:{STANDIN_UID}:\n")
        found = next((p for p in NODE_EXPORTER_CANDIDATES if p.exists()), None)
        if node_exporter and found is not None:
            _copy_into(rootfs, found, Path("/usr/bin/node_exporter"))
            for lib in _shared_libraries(found):
                _copy_into(rootfs, lib)
        return _build(client, ctx, tag)
