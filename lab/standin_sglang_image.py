"""The stand-in SGLang server image, built locally with no pulls.

FROM scratch + static busybox + this machine's Python interpreter (its stdlib, lib-dynload
and the libraries they link, at their host paths so the interpreter finds its prefix) +
prometheus_client + the stand-in worker. Its command line is the real one:
`python3 -m sglang.launch_server --model-path ... --port ... --tp-size ...`, where
`sglang.launch_server` is the stand-in launcher (lab/standin_sglang_launch.py).
A label holds a hash of what went in: an unchanged image is not rebuilt.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from servedeck.backends.runs.image import BUSYBOX, _build, _copy_into, _shared_libraries
from servedeck.backends.base import BackendError

LABEL = "servedeck.standin.hash"
LAB_FILES = ("standin_engine.py", "standin_sglang.py", "standin_sglang_launch.py")
STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
               "pydoc_data", "__pycache__", "config-3.11-x86_64-linux-gnu", "unittest", "distutils"}
DOCKERFILE = """\
# The stand-in SGLang server (servedeck's autotuner tests and lab): no GPU, no pulls.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY rootfs/ /
RUN mkdir -p /tmp && chmod 1777 /tmp
ENV PATH=/usr/local/bin:/usr/bin:/bin PYTHONPATH=/opt/standin PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
LABEL {label}={digest}
CMD ["python3", "-m", "sglang.launch_server", "--model-path", "standin-model"]
"""
SGLANG_SHIM = ('"""Stand-in: servedeck\'s SGLang launch_server look-alike (no GPU)."""\n'
               "from servedeck.lab.standin_sglang_launch import main\n\n"
               "if __name__ == \"__main__\":\n    raise SystemExit(main())\n")


def _lab_dir() -> Path:
    return Path(str(resources.files("servedeck.lab")))


def _digest() -> str:
    h = hashlib.sha256(sys.version.encode())
    for name in LAB_FILES:
        h.update((_lab_dir() / name).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def _interpreter() -> Path:
    return Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def _populate(rootfs: Path) -> None:
    exe = _interpreter()
    stdlib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    _copy_into(rootfs, exe)
    binaries = [exe]
    for entry in stdlib.iterdir():
        if entry.name in STDLIB_SKIP:
            continue
        dest = rootfs / entry.relative_to("/")
        if entry.is_dir():
            shutil.copytree(entry, dest, ignore=shutil.ignore_patterns("__pycache__", "test", "tests", "_tkinter*"))
        else:
            _copy_into(rootfs, entry)
    binaries += [p for p in (stdlib / "lib-dynload").glob("*.so") if "_tkinter" not in p.name]
    for lib in {lib for binary in binaries for lib in _shared_libraries(binary)}:
        _copy_into(rootfs, lib)
    (rootfs / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    (rootfs / "usr/local/bin/python3").symlink_to(exe)
    site = rootfs / "opt/standin"
    import prometheus_client

    shutil.copytree(Path(prometheus_client.__file__).parent, site / "prometheus_client",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for pkg in ("servedeck", "servedeck/lab", "sglang"):
        (site / pkg).mkdir(parents=True, exist_ok=True)
        (site / pkg / "__init__.py").write_text("")
    for name in LAB_FILES:
        shutil.copy2(_lab_dir() / name, site / "servedeck/lab" / name)
    (site / "sglang/launch_server.py").write_text(SGLANG_SHIM)


def ensure_image(client: Any, tag: str) -> str:
    """Build `tag` unless an image of that tag already holds the same content."""
    import docker.errors

    digest = _digest()
    try:
        image = client.images.get(tag)
        if (image.labels or {}).get(LABEL) == digest:
            return image.id
    except docker.errors.ImageNotFound:
        pass
    if not BUSYBOX.exists():
        raise BackendError(f"{BUSYBOX} is missing (apt-get install busybox-static)", reachable=True)
    with tempfile.TemporaryDirectory(prefix="servedeck-standin-sglang-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(BUSYBOX, ctx / "busybox")
        (ctx / "Dockerfile").write_text(DOCKERFILE.format(label=LABEL, digest=digest))
        _populate(ctx / "rootfs")
        return _build(client, ctx, tag)


def main(argv: list[str] | None = None) -> int:
    import argparse

    import docker

    parser = argparse.ArgumentParser(description="build the stand-in SGLang server image")
    parser.add_argument("--tag", default="servedeck-standin-sglang:latest")
    parser.add_argument("--docker-url", default="unix:///var/run/docker.sock")
    args = parser.parse_args(argv)
    print(ensure_image(docker.DockerClient(base_url=args.docker_url), args.tag))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
