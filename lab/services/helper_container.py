"""The SGLang helper container in the lab: the busybox stand-in image, one run under DIR/helper.

When a Docker Engine answers, `lab up` builds the stand-in helper image (the shipped
init-run.sh on static busybox, with node_exporter) and starts one helper-container run,
so a real manifest with real warnings shows in the lab's cockpit. What it started is
written to DIR/helper/target.json: labconfig turns it into the `runs` target, and
`lab down` removes exactly that container.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from servedeck.lab.ports import is_free
from servedeck.lab.procs import Log
from servedeck.lab.services.base import Context
from servedeck.lab.state import LabError

IMAGE = "servedeck-lab-helper:latest"
TARGET_FILE = "target.json"
STANDIN_SERVE = ["sh", "-c", "echo stand-in SGLang server for {model} on port {port}; exec sleep 86400"]


def _port(preferred: int) -> int:
    if is_free(preferred):
        return preferred
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_target(ctx: Context) -> dict[str, Any]:
    ports = ctx.ports
    return {
        "name": "lab-runs",
        "docker_url": ctx.info.docker_url,
        "container": f"sdlab-helper-{ports.router}",
        "image": IMAGE,
        "storage_root": str(ctx.dir / "helper"),
        "start_timeout": 60,
        "env": {
            "EXPORTER_LISTEN_HOST": "127.0.0.1",
            "NODE_EXPORTER_PORT": str(_port(ports.node_exporter + 1)),
            "PROMETHEUS_PORT": str(_port(ports.prometheus + 1)),
            "DCGM_EXPORTER_PORT": str(_port(ports.dcgm + 1)),
            "SGLANG_PORT": str(ports.worker_base + 90),
        },
        "serve_template": STANDIN_SERVE,
        "serve_model": "/models/standin",
        "serve_port": ports.worker_base + 90,
        "serve_shell": ["sh", "-c"],
    }


def start_helper(ctx: Context) -> None:
    """Blocking: build the image and start one run (skipped without Docker or busybox)."""
    from servedeck.backends.base import BackendError
    from servedeck.backends.runs.helper import HelperContainer, HelperError
    from servedeck.backends.runs.image import BUSYBOX, build_standin_image
    from servedeck.backends.runs.settings import RunsSettings

    if not ctx.info.docker_url:
        ctx.log("helper container: no Docker Engine; skipped")
        return
    if not BUSYBOX.exists():
        ctx.log(f"helper container: {BUSYBOX} missing (apt-get install busybox-static); skipped")
        return
    target = lab_target(ctx)
    settings = RunsSettings(**target)
    helper = HelperContainer(settings)
    record = ctx.path("helper", TARGET_FILE)
    try:
        build_standin_image(helper.client(), IMAGE)
        record.write_text(json.dumps(target, indent=2) + "\n")  # before start: down must find it
        result = helper.start(emit=lambda line: None)
    except HelperError as exc:
        tail = f"; log: {' | '.join(exc.tail[-3:])}" if exc.tail else ""
        raise LabError(f"helper container: {exc.message}{tail}") from None
    except BackendError as exc:
        raise LabError(f"helper container: {exc.message}") from None
    finally:
        helper.close()
    ctx.log(f"helper container {settings.container}: run {result.run_id} ({len(result.warnings)} warnings)")


def recorded_target(dir: Path) -> dict[str, Any] | None:
    """The `runs` target of the helper this lab started, for its servedeck.yaml."""
    try:
        return json.loads((Path(dir) / "helper" / TARGET_FILE).read_text())
    except (OSError, ValueError):
        return None


def stop_helper(dir: Path, log: Log) -> None:
    """Remove the helper container this lab started (and nothing else)."""
    target = recorded_target(dir)
    if target is None:
        return
    from servedeck.backends.base import BackendError
    from servedeck.backends.runs.helper import HelperContainer
    from servedeck.backends.runs.settings import RunsSettings

    helper = HelperContainer(RunsSettings(**target))
    try:
        log(f"helper container: {helper.stop()}")
        (Path(dir) / "helper" / TARGET_FILE).unlink(missing_ok=True)
    except BackendError as exc:
        log(f"helper container {target.get('container')}: not removed: {exc.message}")
    finally:
        helper.close()
