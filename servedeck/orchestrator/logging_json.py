"""JSON log lines with SGOrch's fields: ts, level, msg, deployment, job_id, worker_url, event.

Secrets registered from the environment are masked before a line is written.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from servedeck import secrets

LOGGER = "servedeck.orchestrator"
FIELDS = ("deployment", "job_id", "worker_url", "event")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "msg": secrets.redact(record.getMessage()),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = secrets.redact(str(value))
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = secrets.redact(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
        return json.dumps(line, ensure_ascii=False)


def setup(level: str = "INFO", stream: IO[str] | None = None) -> logging.Logger:
    """Route the orchestrator's logger to `stream` (stderr) as JSON lines."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper(), logging.INFO))
    logger.propagate = False
    return logger


def log(event: str, msg: str, *, level: int = logging.INFO, deployment: str = "", job_id: str = "",
        worker_url: str = "") -> None:
    logging.getLogger(LOGGER).log(level, msg, extra={
        "event": event, "deployment": deployment, "job_id": job_id, "worker_url": worker_url})
