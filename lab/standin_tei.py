"""A stand-in Hugging Face Text Embeddings Inference router (`text-embeddings-router`):
its command line and HTTP surface without a model or a GPU.

Run: `python -m servedeck.lab.standin_tei --model-id M [--revision R] [--hostname H]
[--port P] [--prometheus-port Q] [--json-output]` (TEI's own flags). It serves
`/health`, `/info`, `/embed` and `/metrics` (TEI's `te_*` names) on the port, and
`/metrics` again on the Prometheus port, as TEI does. Embeddings are deterministic
vectors from a hash of the text; `/info` says `"standin": true` so nothing mistakes it
for a real server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DIM = 16
MAX_BODY = 1024 * 1024


class Metrics:
    """TEI's counter names exactly (its Rust exporter writes them without `_total`)."""

    NAMES = ("te_request_count", "te_request_success", "te_embed_count", "te_request_failure")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(self.NAMES, 0)

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def text(self) -> bytes:
        with self._lock:
            return "".join(f"# TYPE {k} counter\n{k} {v}\n" for k, v in self.counts.items()).encode()


def embed(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((b - 127.5) / 127.5, 6) for b in digest[:DIM]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin-tei/0.0.0"
    server: "TeiServer"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/health":
            self._send(200, b"")
        elif path == "/info":
            self._send(200, json.dumps(self.server.info).encode())
        elif path == "/metrics":
            self._send(200, self.server.metrics.text(), CONTENT_TYPE)
        else:
            self._send(404, json.dumps({"error": "Not Found", "error_type": "NotFound"}).encode())

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/embed":
            self._send(404, json.dumps({"error": "Not Found", "error_type": "NotFound"}).encode())
            return
        m = self.server.metrics
        m.inc("te_request_count")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            m.inc("te_request_failure")
            self._send(413, json.dumps({"error": "payload too large", "error_type": "Validation"}).encode())
            return
        try:
            inputs = json.loads(self.rfile.read(length) or b"{}").get("inputs")
        except (ValueError, AttributeError):
            inputs = None
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            m.inc("te_request_failure")
            self._send(422, json.dumps({"error": "`inputs` must be a string or a list of strings",
                                        "error_type": "Validation"}).encode())
            return
        m.inc("te_embed_count", len(texts))
        m.inc("te_request_success")
        self._send(200, json.dumps([embed(t) for t in texts]).encode())


class TeiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], info: dict, metrics: Metrics):
        super().__init__(addr, Handler)
        self.info = info
        self.metrics = metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standin_tei", description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--revision")
    parser.add_argument("--hostname", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--prometheus-port", type=int, default=9000)
    parser.add_argument("--json-output", action="store_true")
    args, _unknown = parser.parse_known_args(argv)  # TEI has many tuning flags; they change nothing here
    metrics = Metrics()
    info = {"model_id": args.model_id, "model_sha": args.revision, "model_type": {"embedding": {"pooling": "mean"}},
            "version": "0.0.0-standin", "max_input_length": 512, "standin": True,
            "hub_cache": os.environ.get("HUGGINGFACE_HUB_CACHE", "")}
    try:
        server = TeiServer((args.hostname, args.port), info, metrics)
        prom = TeiServer((args.hostname, args.prometheus_port), info, metrics)
    except OSError as exc:
        print(f"standin_tei: cannot listen on {args.hostname}: {exc.strerror}", flush=True)
        return 1
    threading.Thread(target=prom.serve_forever, daemon=True).start()
    line = {"message": "Ready", "model_id": args.model_id, "port": args.port} if args.json_output else None
    print(json.dumps(line) if line else f"standin_tei: serving {args.model_id} on {args.hostname}:{args.port}",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
