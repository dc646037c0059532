"""The seed-001 Compose stack in the lab: a real Pylet head and worker, brought up by the
real Compose CLI from images built here (nothing can be pulled).

Images: a Python base made once (`FROM scratch`: static busybox, bash, and this machine's
Python with the libraries it links; tagged by what went in, so it is built only when
that changes), and the Pylet image on it, which `docker-compose build` makes with Pylet's
wheels installed `--no-index` from a cached wheelhouse. The project (named after the
lab's ports, so labs side by side never meet) uses host networking on the lab's loopback
ports, a healthcheck per service, and `depends_on: condition: service_healthy`.

What it made is recorded in DIR/compose/stack.json: labconfig adds the compose target
from it, and `lab down` runs `compose down` on exactly that project (images are kept as
the build cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from servedeck.lab.procs import Log
from servedeck.lab.services.base import Context
from servedeck.lab.state import LabError

PYLET = "pylet==0.5.0"
BASE_REPO = "servedeck-lab-python"
PYLET_REPO = "servedeck-lab-pylet"
RECORD = "stack.json"
GPU_UNITS = 2
BASH = Path("/bin/bash")
LAB = Path(__file__).resolve().parent.parent
# The sllm head stand-in (its own module, from the ServerlessLLM work): its service is
# part of the stack when the module is there.
STANDIN_SLLM_HEAD = LAB / "standin_sllm_head.py"
PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
STDLIB = Path(f"/usr/lib/python{sys.version_info.major}.{sys.version_info.minor}")
# Parts of the standard library nothing here imports; the rest is copied as it is.
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "distutils", "pydoc_data",
               "unittest", "config-3.11-x86_64-linux-gnu", "site-packages", "dist-packages"}
BUILD_TIMEOUT_S = 600
UP_TIMEOUT_S = 180

BASE_DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/root
"""

PYLET_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY site/ /opt/pylet/
COPY lab/ /opt/lab/
ENV PYTHONPATH=/opt/pylet PYTHONDONTWRITEBYTECODE=1
"""


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "servedeck" / "compose-lab"


def project_name(ctx: Context) -> str:
    return f"sdlab{ctx.ports.router}"


# -- images -------------------------------------------------------------------------------

def _libraries(paths: list[Path]) -> set[Path]:
    from servedeck.backends.runs.image import _shared_libraries

    libs: set[Path] = set()
    for path in paths:
        libs.update(_shared_libraries(path))
    return libs


def _base_files(extensions: list[Path]) -> list[tuple[Path, Path]]:
    """(source, place in the image) of everything the Python base holds: the libraries
    `extensions` (the stack's compiled wheels) link are included too."""
    files = [(Path("/bin/busybox"), Path("/bin/busybox")), (BASH, Path("/bin/bash")),
             (PYTHON, PYTHON), (PYTHON, Path("/usr/bin/python3"))]
    for path in sorted(STDLIB.rglob("*")):
        rel = path.relative_to(STDLIB)
        if rel.parts[0] in STDLIB_SKIP or "__pycache__" in rel.parts or not path.is_file():
            continue
        files.append((path, path))
    binaries = [PYTHON, BASH, *STDLIB.joinpath("lib-dynload").glob("*.so"), *extensions]
    files += [(lib, lib) for lib in sorted(_libraries(binaries))]
    return files


def _digest(files: list[tuple[Path, Path]], *extra: str) -> str:
    h = hashlib.sha256("\n".join(extra).encode())
    for source, target in files:
        st = source.stat()
        h.update(f"{target}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:12]


def _image_exists(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base(client: Any, log: Log, extensions: list[Path]) -> str:
    """The Python base image (built only when its inputs changed); its tag."""
    from servedeck.backends.runs.image import _build

    for needed in (Path("/bin/busybox"), BASH, PYTHON):
        if not needed.exists():
            raise LabError(f"compose stack: {needed} is missing (apt-get install busybox-static bash python3)")
    files = _base_files(extensions)
    tag = f"{BASE_REPO}:{_digest(files, BASE_DOCKERFILE)}"
    if _image_exists(client, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="sdlab-base-") as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(BASE_DOCKERFILE)
        rootfs = ctx / "rootfs"
        for source, target in files:
            dest = rootfs / target.relative_to("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source.resolve(), dest)
        for d in ("tmp", "root", "etc"):
            (rootfs / d).mkdir(exist_ok=True)
        (rootfs / "tmp").chmod(0o1777)
        (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (rootfs / "etc" / "group").write_text("root:x:0:\n")
        log(f"compose stack: building {tag} (once)")
        _build(client, ctx, tag)
    return tag


def pylet_site() -> Path:
    """Pylet and its dependencies installed --no-index from a cached wheelhouse."""
    root = cache_dir()
    wheels, site = root / "wheels", root / f"site-{PYLET.replace('==', '-')}"
    if (site / "pylet" / "cli.py").exists():
        return site
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels.mkdir(parents=True, exist_ok=True)
    if not any(wheels.glob("pylet-*.whl")):
        _pip(pip + ["download", "--only-binary=:all:", "-d", str(wheels), PYLET], "download Pylet's wheels")
    partial = Path(tempfile.mkdtemp(prefix="site-", dir=root))
    _pip(pip + ["install", "--no-index", "--find-links", str(wheels), "--target", str(partial), PYLET],
         "install Pylet's wheels")
    shutil.rmtree(site, ignore_errors=True)
    partial.rename(site)
    return site


def _pip(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"compose stack: could not {what}: {last[0]}")


# -- the project ---------------------------------------------------------------------------

def _probe_url(url: str) -> list[str]:
    return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"]


def compose_file(base: str, pylet_image: str, head: int, worker: int, sllm_head: int | None = None) -> dict[str, Any]:
    """The seed's services on loopback ports; the sllm head (stand-in) only when given a port."""
    health = {"interval": "1s", "timeout": "3s", "retries": 60, "start_period": "60s"}
    launcher = ["python3", "/opt/lab/pylet_loopback.py", "start"]
    services = {
        "pylet_head": {
            "build": {"context": ".", "dockerfile": "Dockerfile.pylet", "network": "host", "args": {"BASE": base}},
            "image": pylet_image,
            "network_mode": "host",
            "environment": {"HOME": "/var/lib/pylet-head"},  # the head's database is ~/.pylet
            "command": [*launcher, "--port", str(head)],
            "healthcheck": {"test": _probe_url(f"http://127.0.0.1:{head}/workers"), **health},
            "stop_grace_period": "3s",
        },
        "pylet_worker": {
            "image": pylet_image,
            "network_mode": "host",
            "environment": {"HOME": "/var/lib/pylet-worker", "PYLET_DATA_DIR": "/var/lib/pylet-worker"},
            "command": [*launcher, "--head", f"127.0.0.1:{head}", "--port", str(worker),
                        "--gpu-units", str(GPU_UNITS), "--cpu-cores", "4", "--memory-mb", "4096"],
            "healthcheck": {"test": _probe_url(f"http://127.0.0.1:{worker}/health"), **health},
            "depends_on": {"pylet_head": {"condition": "service_healthy"}},
            "stop_grace_period": "3s",
        },
    }
    if sllm_head is not None:
        services["sllm_head"] = {
            "image": pylet_image,
            "network_mode": "host",
            "command": ["python3", f"/opt/lab/{STANDIN_SLLM_HEAD.name}", "--host", "127.0.0.1", "--port", str(sllm_head),
                        "--pylet-url", f"http://127.0.0.1:{head}", "--db", "/var/lib/sllm/state.db"],
            "healthcheck": {"test": _probe_url(f"http://127.0.0.1:{sllm_head}/health"), **health},
            "depends_on": {"pylet_head": {"condition": "service_healthy"},
                           "pylet_worker": {"condition": "service_started"}},
            "volumes": ["sllm_data:/var/lib/sllm"],  # the head's SQLite database, as in the seed
            "stop_grace_period": "3s",
        }
        return {"services": services, "volumes": {"sllm_data": {}}}
    return {"services": services}


def _compose(cli: tuple[str, ...], project: str, file: Path, args: list[str], docker_url: str,
             timeout: float = UP_TIMEOUT_S) -> tuple[int, str]:
    """(exit status, the CLI's error lines or its last line)."""
    from servedeck.backends.compose.cli import ComposeProject, run

    outcome = run(cli, ComposeProject(project, (file.name,), str(file.parent)), args, docker_url=docker_url,
                  timeout=timeout)
    errors = [line.strip() for line in outcome.output.splitlines() if line.startswith("ERROR")]
    return outcome.rc, " | ".join(errors[-3:]) or outcome.last_line


def start_stack(ctx: Context) -> None:
    """Blocking: build the images and bring the project up healthy (skipped without
    Docker or a Compose CLI, saying why)."""
    from servedeck.backends.base import BackendError
    from servedeck.backends.compose.cli import ComposeMissing, compose_command

    if not ctx.info.docker_url:
        ctx.log("compose stack: no Docker Engine; skipped")
        return
    try:
        cli = compose_command()
    except ComposeMissing as exc:
        ctx.log(f"compose stack: {exc.message}; skipped ({exc.hint})")
        return
    import docker

    client = docker.DockerClient(base_url=ctx.info.docker_url, timeout=BUILD_TIMEOUT_S)
    site = pylet_site()
    try:
        base = build_base(client, ctx.log, sorted(site.rglob("*.so")))
    except BackendError as exc:
        raise LabError(f"compose stack: {exc.message}") from None
    finally:
        client.close()
    work = ctx.path("compose", "x").parent
    shutil.copytree(site, work / "site", dirs_exist_ok=True)
    (work / "lab").mkdir(exist_ok=True)
    shutil.copy2(LAB / "pylet_loopback.py", work / "lab" / "pylet_loopback.py")
    sllm_head = ctx.ports.compose_sllm_head if STANDIN_SLLM_HEAD.exists() else None
    if sllm_head is not None:
        shutil.copy2(STANDIN_SLLM_HEAD, work / "lab" / STANDIN_SLLM_HEAD.name)
    (work / "Dockerfile.pylet").write_text(PYLET_DOCKERFILE)
    head, worker = ctx.ports.compose_pylet_head, ctx.ports.compose_pylet_worker
    pylet_image = f"{PYLET_REPO}:{base.partition(':')[2]}"
    file = work / "docker-compose.yml"
    file.write_text("# Written by `servedeck lab up`: the seed-001 stack on this lab's ports.\n"
                    + yaml.safe_dump(compose_file(base, pylet_image, head, worker, sllm_head), sort_keys=False))
    project = project_name(ctx)
    record = {"project": project, "file": str(file), "docker_url": ctx.info.docker_url,
              "pylet_head": f"http://127.0.0.1:{head}", "pylet_worker": f"http://127.0.0.1:{worker}",
              "sllm_head": f"http://127.0.0.1:{sllm_head}" if sllm_head else None}
    (work / RECORD).write_text(json.dumps(record, indent=2) + "\n")  # before up: down must find it
    for args, what in ((["build"], "build"), (["up", "-d", "--no-build"], "up")):
        try:
            rc, last = _compose(cli, project, file, args, ctx.info.docker_url)
        except BackendError as exc:
            raise LabError(f"compose stack: {what}: {exc.message}") from None
        if rc != 0:
            raise LabError(f"compose stack: {' '.join(cli)} {what} failed (exit {rc}): {last}")
    _await_healthy(ctx, project)
    extra = f", sllm head stand-in on 127.0.0.1:{sllm_head}" if sllm_head else " (no sllm head stand-in module)"
    ctx.log(f"compose stack {project}: pylet head on 127.0.0.1:{head}, worker on 127.0.0.1:{worker}{extra}; healthy")


def _await_healthy(ctx: Context, project: str) -> None:
    """`up -d` waits only for what others depend on: wait for every service's check."""
    from servedeck.backends.compose.backend import ComposeBackend, ComposeSettings
    from servedeck.lab.ports import wait_until

    backend = ComposeBackend(ComposeSettings(name="lab-compose", url=ctx.info.docker_url))
    rows: list = []

    def healthy() -> bool:
        rows[:] = [r for r in backend.rows() if r.project == project and r.kind == "service"]
        return bool(rows) and all(r.state == "running" and r.health == "healthy" for r in rows)

    def alive() -> bool:
        return not any(r.state in ("exited", "dead") for r in rows)

    try:
        if not wait_until(healthy, UP_TIMEOUT_S, interval=0.5, alive=alive):
            states = ", ".join(" ".join(filter(None, (r.service, r.state, r.health,
                                                       None if r.exit_code is None else f"exit {r.exit_code}")))
                               for r in rows)
            raise LabError(f"compose stack {project}: not healthy ({states}); "
                           f"see `servedeck compose -p {project} logs`")
    finally:
        backend.close()


def recorded_stack(dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(dir) / "compose" / RECORD).read_text())
    except (OSError, ValueError):
        return None


def stop_stack(dir: Path, log: Log) -> None:
    """`compose down -v` of the project this lab brought up (and nothing else)."""
    from servedeck.backends.base import BackendError
    from servedeck.backends.compose.cli import ComposeMissing, compose_command

    record = recorded_stack(dir)
    if record is None:
        return
    try:
        rc, last = _compose(compose_command(), record["project"], Path(record["file"]),
                            ["down", "-v", "--remove-orphans", "-t", "3"], record["docker_url"])
    except (ComposeMissing, BackendError) as exc:
        log(f"compose stack {record['project']}: not brought down: {exc.message}")
        return
    if rc != 0:
        log(f"compose stack {record['project']}: down failed (exit {rc}): {last}")
        return
    log(f"compose stack {record['project']}: down")
    (Path(dir) / "compose" / RECORD).unlink(missing_ok=True)
