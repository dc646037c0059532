"""A stand-in `sllm-store` executable: `sllm-store start --port P --storage-path SP --host H`.

The real sllm-store needs CUDA (it pins checkpoints in GPU-side buffers). This one serves
`GET /health` on its port and, like the store on a worker, tells the sllm head what it
holds: every few seconds it POSTs `/internal/storage-report {node_name,
sllm_store_endpoint, cached_models}` to `$SLLM_HEAD_URL`, the models being the folders
`SP/<backend>/<org>/<name>`. `sllm-store save --model M --backend B --storage-path SP`
writes such a folder (a stand-in checkpoint). `SERVEDECK_STANDIN_BIND` overrides `--host`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def cached_models(storage: Path) -> list[str]:
    """`SP/vllm/facebook/opt-125m` -> "facebook/opt-125m" (folders holding a checkpoint)."""
    found = []
    for marker in sorted(storage.glob("*/**/standin-checkpoint.json")):
        rel = marker.parent.relative_to(storage)
        if len(rel.parts) >= 2:
            found.append("/".join(rel.parts[1:]))
    return sorted(set(found))


def save(model: str, backend: str, storage: Path) -> Path:
    target = storage / backend / model
    target.mkdir(parents=True, exist_ok=True)
    (target / "standin-checkpoint.json").write_text(json.dumps({"model": model, "backend": backend, "standin": True}))
    return target


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/health":
            body = json.dumps({"status": "ok", "standin": True}).encode()
            self.send_response(200)
        else:
            body = b'{"detail": "Not Found"}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _report_forever(head: str, node: str, endpoint: str, storage: Path, every: float, stop: threading.Event) -> None:
    while not stop.is_set():
        body = json.dumps({"node_name": node, "sllm_store_endpoint": endpoint,
                           "cached_models": cached_models(storage)}).encode()
        request = urllib.request.Request(f"{head.rstrip('/')}/internal/storage-report", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=2).close()  # noqa: S310 - the head the reconciler named
        except OSError as exc:
            print(f"WARN storage report to {head} failed: {exc}", flush=True)
        stop.wait(every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sllm-store", description="stand-in sllm-store (lab)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    start = sub.add_parser("start")
    start.add_argument("--port", type=int, default=8073)
    start.add_argument("--host", default="0.0.0.0")
    start.add_argument("--storage-path", default=os.environ.get("STORAGE_PATH", "/models"))
    start.add_argument("--report-every", type=float, default=5.0)
    sv = sub.add_parser("save")
    sv.add_argument("--model", required=True)
    sv.add_argument("--backend", default="vllm")
    sv.add_argument("--storage-path", default=os.environ.get("STORAGE_PATH", "/models"))
    args, _ = parser.parse_known_args(argv)
    storage = Path(args.storage_path)
    if args.cmd == "save":
        print(f"saved {args.model} ({args.backend}) to {save(args.model, args.backend, storage)} (stand-in checkpoint)")
        return 0
    host = os.environ.get("SERVEDECK_STANDIN_BIND") or args.host
    try:
        server = ThreadingHTTPServer((host, args.port), _Handler)
    except OSError as exc:
        print(f"ERROR: cannot listen on {host}:{args.port}: {exc.strerror}", flush=True)
        return 1
    server.daemon_threads = True
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    endpoint = f"{shown}:{args.port}"
    print(f"INFO standin sllm-store on {endpoint}, storage {storage}: {', '.join(cached_models(storage)) or 'empty'}",
          flush=True)
    stop = threading.Event()
    head = os.environ.get("SLLM_HEAD_URL")
    node = os.environ.get("SLLM_NODE_NAME") or socket.gethostname()
    if head and node:
        threading.Thread(target=_report_forever, args=(head, node, endpoint, storage, args.report_every, stop),
                         daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
