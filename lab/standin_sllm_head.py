"""A stand-in for the ServerlessLLM v1-beta head (`sllm start head`, 28fffaf), driving real Pylet.

The real head is not on PyPI, so the lab runs this instead. It serves the head's routes
and JSON shapes (`/health`, `/register`, `DELETE /delete/{model_id}`, `POST /delete`,
`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`, `/status`,
`/internal/storage-report`), keeps the head's SQLite schema v2 (`models`,
`model_endpoints`, `node_storage`, `schema_version`), and makes the submissions its
reconciler makes to the real Pylet head:
- an sllm-store per worker, `sllm-store start --port $PORT --storage-path SP --host 0.0.0.0`,
  named `sllm-store-<worker_id>`, on that worker, all its GPUs, non-exclusive, labels
  `{type: sllm-store, node}`, env `STORAGE_PATH`, `SLLM_HEAD_URL`; waited for (60 s) to run;
- then `vllm serve SP/vllm/<model> --load-format serverless_llm --served-model-name <model>
  --port $PORT --host 0.0.0.0 --tensor-parallel-size N`, named `<model, / as ->-<8 hex>`,
  labels `{model_id, type: inference, node}`, env `STORAGE_PATH`, `SLLM_STORE_ENDPOINT`;
- ready once `GET http://<endpoint>/health` answers 200 (startup timeout 300 s).
Requests for a model without a ready endpoint are buffered (at most 10, 120 s) while the
autoscaler (`desired = ceil(demand / target)`, clamped to min..max, back to min after
keep-alive) and the reconciler (every 3 s) bring one up.

It keeps the head's behaviour at that commit where the note observed it, because an
operator's cockpit must cope with it: backend answers are relayed with HTTP 200 whatever
their status; if Pylet is unreachable at start the head runs without it (`pylet_connected`
stays false, no reconciler) until restarted; and cancelling an instance fails (28fffaf
looks the id up as a name), so scale-down flaps and a delete stays `deleting` until the
model's instances are gone from Pylet. `--cancel-works` gives fc37102's fixed cancel.
Unlike 28fffaf it forwards vLLM's served name (later heads do; `--forward-model-id`
keeps the old `model:backend`). Every answer it makes itself carries `"standin": true`.

Run: python -m servedeck.lab.standin_sllm_head --host 127.0.0.1 --port P --pylet-url URL [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sqlite3
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

VERSION = "v1-beta"
MAX_BUFFERED = 10
BUFFER_TIMEOUT_S = 120.0
STORE_WAIT_S = 60.0
STARTUP_TIMEOUT_S = 300.0
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")

log = logging.getLogger("standin_sllm_head")

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS models (
  id TEXT PRIMARY KEY, model_name TEXT NOT NULL, backend TEXT NOT NULL, status TEXT DEFAULT 'active',
  desired_replicas INTEGER DEFAULT 0, min_replicas INTEGER DEFAULT 0, max_replicas INTEGER DEFAULT 1,
  target_pending_requests INTEGER DEFAULT 5, keep_alive_seconds INTEGER DEFAULT 0, backend_config TEXT,
  created_at REAL, updated_at REAL);
CREATE TABLE IF NOT EXISTS model_endpoints (
  model_id TEXT NOT NULL, endpoint TEXT NOT NULL, status TEXT DEFAULT 'healthy', added_at REAL,
  PRIMARY KEY (model_id, endpoint));
CREATE TABLE IF NOT EXISTS node_storage (
  node_name TEXT PRIMARY KEY, sllm_store_endpoint TEXT, cached_models TEXT, last_cache_update REAL);
INSERT OR IGNORE INTO schema_version (version) VALUES (2);
"""


class Store:
    """The head's SQLite database (schema v2), shared by request threads and the reconciler."""

    def __init__(self, path: str):
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        with self.lock:
            self.db.executescript(SCHEMA)

    def q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.db.execute(sql, args))

    def models(self) -> list[sqlite3.Row]:
        return self.q("SELECT * FROM models ORDER BY created_at")

    def model(self, model_id: str) -> sqlite3.Row | None:
        rows = self.q("SELECT * FROM models WHERE id = ?", model_id)
        return rows[0] if rows else None

    def endpoints(self, model_id: str) -> list[str]:
        return [r["endpoint"] for r in self.q("SELECT endpoint FROM model_endpoints WHERE model_id = ? "
                                              "ORDER BY added_at", model_id)]


class Pylet:
    """The Pylet calls the head's `pylet_client.py` makes, over Pylet's HTTP API."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=5.0)

    def workers(self) -> list[dict[str, Any]]:
        response = self.http.get("/workers", timeout=1.0)
        response.raise_for_status()
        return response.json()

    def instances(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        first, *rest = labels.items()
        response = self.http.get("/instances", params={"label": f"{first[0]}={first[1]}"})
        response.raise_for_status()
        return [i for i in response.json() if all((i.get("labels") or {}).get(k) == v for k, v in rest)]

    def by_name(self, name: str) -> dict[str, Any] | None:
        response = self.http.get(f"/instances/by-name/{name}")
        return response.json() if response.status_code == 200 else None

    def get(self, instance_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/instances/{instance_id}")
        return response.json() if response.status_code == 200 else None

    def submit(self, body: dict[str, Any]) -> str:
        response = self.http.post("/instances", json=body)
        response.raise_for_status()
        return response.json()["instance_id"]

    def cancel(self, instance_id: str) -> None:
        response = self.http.post(f"/instances/{instance_id}/cancel")
        if response.status_code >= 400 and response.status_code != 400:
            response.raise_for_status()


class Head:
    """Autoscaler, reconciler and request router of one stand-in head."""

    def __init__(self, store: Store, pylet: Pylet | None, *, self_url: str, storage_path: str,
                 interval: float, cancel_works: bool, forward_model_id: bool):
        self.store, self.pylet = store, pylet
        self.self_url, self.storage_path, self.interval = self_url, storage_path, interval
        self.cancel_works, self.forward_model_id = cancel_works, forward_model_id
        self.cond = threading.Condition()
        self.waiting: dict[str, int] = {}
        self.inflight: dict[str, int] = {}
        self.last_active: dict[str, float] = {}
        self.started: dict[str, float] = {}  # instance id -> when submitted (startup timeout)
        self.rr = 0
        self.stop = threading.Event()

    # -- health ------------------------------------------------------------------------

    def pylet_connected(self) -> bool:
        if self.pylet is None:
            return False
        try:
            self.pylet.workers()
            return True
        except (httpx.HTTPError, ValueError):
            return False

    # -- routing -----------------------------------------------------------------------

    def wait_endpoint(self, model_id: str) -> str | None:
        """An endpoint for the model, buffering the request during a cold start."""
        deadline = time.monotonic() + BUFFER_TIMEOUT_S
        with self.cond:
            if self.waiting.get(model_id, 0) >= MAX_BUFFERED:
                raise OverflowError("too many buffered requests")
            self.waiting[model_id] = self.waiting.get(model_id, 0) + 1
            self.last_active[model_id] = time.monotonic()
            try:
                while True:
                    endpoints = self.store.endpoints(model_id)
                    if endpoints:
                        self.rr += 1
                        self.inflight[model_id] = self.inflight.get(model_id, 0) + 1
                        return endpoints[self.rr % len(endpoints)]
                    left = deadline - time.monotonic()
                    if left <= 0 or self.stop.is_set():
                        return None
                    self.cond.wait(min(left, 1.0))
            finally:
                self.waiting[model_id] -= 1

    def done(self, model_id: str) -> None:
        with self.cond:
            self.inflight[model_id] = max(0, self.inflight.get(model_id, 0) - 1)
            self.last_active[model_id] = time.monotonic()

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            for model in self.store.models():
                try:
                    if model["status"] == "deleting":
                        self._delete_step(model)
                    else:
                        self._autoscale(model)
                        self._reconcile(self.store.model(model["id"]) or model)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    log.warning("reconcile %s: %s", model["id"], exc)

    def _autoscale(self, model: sqlite3.Row) -> None:
        mid = model["id"]
        with self.cond:
            demand = self.waiting.get(mid, 0) + self.inflight.get(mid, 0)
            idle_for = time.monotonic() - self.last_active.get(mid, 0.0)
        desired = model["desired_replicas"]
        if demand:
            target = max(1, model["target_pending_requests"] or 1)
            desired = max(model["min_replicas"], min(model["max_replicas"], math.ceil(demand / target)))
        elif idle_for >= (model["keep_alive_seconds"] or 0):
            desired = model["min_replicas"]
        if desired != model["desired_replicas"]:
            self.store.q("UPDATE models SET desired_replicas = ?, updated_at = ? WHERE id = ?", desired, time.time(), mid)

    def _live(self, mid: str) -> list[dict[str, Any]]:
        assert self.pylet is not None
        return [i for i in self.pylet.instances({"model_id": mid, "type": "inference"}) if i["status"] not in TERMINAL]

    def _reconcile(self, model: sqlite3.Row) -> None:
        assert self.pylet is not None
        mid = model["id"]
        live = self._live(mid)
        running = {i["endpoint"] for i in live if i["status"] == "RUNNING" and i.get("endpoint")}
        for endpoint in self.store.endpoints(mid):
            if endpoint not in running:
                self.store.q("DELETE FROM model_endpoints WHERE model_id = ? AND endpoint = ?", mid, endpoint)
        known = set(self.store.endpoints(mid))
        added = False
        for inst in live:
            endpoint = inst.get("endpoint")
            if inst["status"] == "RUNNING" and endpoint and endpoint not in known and self._healthy(endpoint):
                self.store.q("INSERT OR REPLACE INTO model_endpoints VALUES (?, ?, 'healthy', ?)", mid, endpoint, time.time())
                added = True
                with self.cond:
                    self.cond.notify_all()
            elif endpoint not in known and time.time() - self.started.setdefault(inst["instance_id"], time.time()) > STARTUP_TIMEOUT_S:
                log.warning("%s did not become healthy within %ss", inst["name"], STARTUP_TIMEOUT_S)
                self._cancel(mid, inst)
        desired = model["desired_replicas"]
        if len(live) < desired:
            self._start_one(model)
        elif len(live) > desired and not added:  # an instance that just became ready serves one loop
            self._cancel(mid, live[0])  # Pylet lists newest first

    def _healthy(self, endpoint: str) -> bool:
        try:
            return httpx.get(f"http://{endpoint}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _cancel(self, mid: str, inst: dict[str, Any]) -> None:
        assert self.pylet is not None
        if inst.get("endpoint"):  # out of the routing table first, then cancel
            self.store.q("DELETE FROM model_endpoints WHERE model_id = ? AND endpoint = ?", mid, inst["endpoint"])
        if not self.cancel_works:
            # 28fffaf: pylet.get(instance_id) takes a positional argument as a *name*
            if self.pylet.by_name(inst["instance_id"]) is None:
                log.error("cancel %s: Instance not found: name='%s'", inst["name"], inst["instance_id"])
                return
        self.pylet.cancel(inst["instance_id"])

    def _delete_step(self, model: sqlite3.Row) -> None:
        assert self.pylet is not None
        mid = model["id"]
        every = self.pylet.instances({"model_id": mid})
        for inst in every:
            if inst["status"] not in TERMINAL:
                self._cancel(mid, inst)
        if not every:  # waits for an empty list: CANCELLED instances left in Pylet keep it waiting
            self.store.q("DELETE FROM model_endpoints WHERE model_id = ?", mid)
            self.store.q("DELETE FROM models WHERE id = ?", mid)
            log.info("model %s deleted", mid)

    def _pick_worker(self, tp: int) -> dict[str, Any] | None:
        assert self.pylet is not None
        online = [w for w in self.pylet.workers() if w.get("status") == "ONLINE"]
        fits = [w for w in online if len(w.get("available_gpu_indices") or []) >= tp]
        return fits[0] if fits else None

    def _ensure_store(self, worker: dict[str, Any]) -> str | None:
        assert self.pylet is not None
        wid = worker["worker_id"]
        name = f"sllm-store-{wid}"
        inst = self.pylet.by_name(name)
        if inst is None or inst["status"] in TERMINAL or inst["status"] == "UNKNOWN":
            gpus = worker["total_resources"].get("gpu_units", 0)
            self.pylet.submit({
                "command": f"sllm-store start --port $PORT --storage-path {self.storage_path} --host 0.0.0.0",
                "name": name, "target_worker": wid, "gpu_indices": list(range(gpus)), "exclusive": False,
                "labels": {"type": "sllm-store", "node": wid},
                "env": {"STORAGE_PATH": self.storage_path, "SLLM_HEAD_URL": self.self_url},
                "resource_requirements": {"cpu_cores": 1, "gpu_units": gpus, "memory_mb": 1024},
            })
        deadline = time.monotonic() + STORE_WAIT_S
        while time.monotonic() < deadline and not self.stop.is_set():
            inst = self.pylet.by_name(name)
            if inst and inst["status"] == "RUNNING" and inst.get("endpoint"):
                self._adopt_store(wid, inst["endpoint"])
                return inst["endpoint"]
            if inst and inst["status"] in TERMINAL:
                log.warning("%s ended %s", name, inst["status"])
                return None
            time.sleep(0.5)
        log.warning("%s not running within %ss", name, STORE_WAIT_S)
        return None

    def _adopt_store(self, wid: str, endpoint: str) -> None:
        """node_storage keyed by the worker id, keeping what the store already reported."""
        with self.store.lock:
            early = self.store.q("SELECT cached_models FROM node_storage WHERE sllm_store_endpoint = ? AND "
                                 "node_name != ?", endpoint, wid)
            self.store.q("DELETE FROM node_storage WHERE sllm_store_endpoint = ? AND node_name != ?", endpoint, wid)
            cached = early[0]["cached_models"] if early else "[]"
            self.store.q("INSERT INTO node_storage VALUES (?, ?, ?, ?) ON CONFLICT(node_name) DO UPDATE SET "
                         "sllm_store_endpoint = excluded.sllm_store_endpoint", wid, endpoint, cached, time.time())

    def _start_one(self, model: sqlite3.Row) -> None:
        assert self.pylet is not None
        config = json.loads(model["backend_config"] or "{}")
        tp = int(config.get("tensor_parallel_size") or 1)
        worker = self._pick_worker(tp)
        if worker is None:
            log.warning("no ONLINE worker with %d free GPUs for %s", tp, model["id"])
            return
        store = self._ensure_store(worker)
        if store is None:
            return
        name, wid = model["model_name"], worker["worker_id"]
        command = (f"vllm serve {self.storage_path}/vllm/{name} --load-format serverless_llm "
                   f"--served-model-name {name} --port $PORT --host 0.0.0.0 --tensor-parallel-size {tp}")
        for key, flag in (("max_model_len", "--max-model-len"), ("gpu_memory_utilization", "--gpu-memory-utilization"),
                          ("dtype", "--dtype")):
            if config.get(key) is not None:
                command += f" {flag} {config[key]}"
        if config.get("trust_remote_code"):
            command += " --trust-remote-code"
        for arg in config.get("extra_args") or []:
            command += f" {arg}"
        instance_id = self.pylet.submit({
            "command": command, "name": f"{name.replace('/', '-')}-{uuid.uuid4().hex[:8]}", "target_worker": wid,
            "labels": {"model_id": model["id"], "type": "inference", "node": wid},
            "env": {"STORAGE_PATH": self.storage_path, "SLLM_STORE_ENDPOINT": store},
            "resource_requirements": {"cpu_cores": 1, "gpu_units": tp, "memory_mb": 1024},
        })
        self.started[instance_id] = time.time()
        log.info("started %s for %s on %s", instance_id, model["id"], wid)

    # -- /status -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        models = []
        for m in self.store.models():
            live: list[dict[str, Any]] = []
            if self.pylet is not None:
                try:
                    live = self._live(m["id"])
                except (httpx.HTTPError, ValueError):
                    live = []
            endpoints = set(self.store.endpoints(m["id"]))
            instances = [{"id": i["instance_id"], "node": i.get("assigned_to") or "", "endpoint": i.get("endpoint"),
                          "status": "running" if i.get("endpoint") in endpoints else "starting"} for i in live]
            models.append({"id": m["id"], "status": m["status"], "desired_replicas": m["desired_replicas"],
                           "ready_replicas": len(endpoints),
                           "starting_replicas": max(0, len(live) - len(endpoints)),
                           "instances": [i for i in instances if i["status"] == "running"]})
        nodes = []
        if self.pylet is not None:
            try:
                workers = self.pylet.workers()
            except (httpx.HTTPError, ValueError):
                workers = []
            storage = {r["node_name"]: r for r in self.store.q("SELECT * FROM node_storage")}
            for w in workers:
                if w.get("status") == "OFFLINE":
                    continue
                total = (w.get("total_resources") or {}).get("gpu_units", 0)
                row = storage.get(w["worker_id"])
                nodes.append({"name": w["worker_id"], "host": w.get("host"), "status": "online", "total_gpus": total,
                              # the head reads available_resources, which Pylet never decrements
                              "available_gpus": (w.get("available_resources") or {}).get("gpu_units", total),
                              "sllm_store_endpoint": row["sllm_store_endpoint"] if row else None,
                              "cached_models": json.loads(row["cached_models"] or "[]") if row else []})
        return {"models": models, "nodes": nodes}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    head: Head


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server
    server_version = "standin-sllm-head/" + VERSION

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug(fmt, *args)

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        if isinstance(obj, dict):
            obj = {**obj, "standin": True}
        self._send(status, json.dumps(obj).encode())

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}") if length else {}
        except json.JSONDecodeError:
            return {}
        return data if isinstance(data, dict) else {}

    def do_GET(self) -> None:
        head, path = self.server.head, self.path.split("?", 1)[0]
        if path == "/health":
            self._json({"status": "ok", "version": VERSION, "pylet_connected": head.pylet_connected()})
        elif path == "/status":
            self._json(head.status())
        elif path == "/v1/models":
            self._json({"object": "list", "models": [
                {"id": m["id"], "model": m["model_name"], "backend": m["backend"], "status": m["status"],
                 "desired_replicas": m["desired_replicas"], "ready_replicas": len(head.store.endpoints(m["id"])),
                 "min_replicas": m["min_replicas"], "max_replicas": m["max_replicas"]}
                for m in head.store.models()]})
        else:
            self._json({"detail": "Not Found"}, 404)

    def do_DELETE(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/delete/"):
            self._delete(httpx.URL(path[len("/delete/"):]).path)
        else:
            self._json({"detail": "Not Found"}, 404)

    def _delete(self, model_id: str) -> None:
        store = self.server.head.store
        if store.model(model_id) is None:
            self._json({"detail": f"Model {model_id} not found"}, 404)
            return
        store.q("UPDATE models SET status = 'deleting', desired_replicas = 0, updated_at = ? WHERE id = ?",
                time.time(), model_id)
        self._json({"status": "deleting", "model_id": model_id}, 202)

    def do_POST(self) -> None:
        path, body = self.path.split("?", 1)[0], self._body()
        if path == "/register":
            self._register(body)
        elif path == "/delete":
            self._delete(f"{body.get('model')}:{body.get('backend') or 'vllm'}")
        elif path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            self._inference(path, body)
        elif path == "/internal/storage-report":
            self._storage_report(body)
        else:
            self._json({"detail": "Not Found"}, 404)

    def _register(self, body: dict[str, Any]) -> None:
        store = self.server.head.store
        model = body.get("model")
        if not model or not isinstance(model, str):
            self._json({"detail": "Missing required field: model"}, 400)
            return
        backend = str(body.get("backend") or "vllm")
        scaling = body.get("auto_scaling_config") or {}
        mid = f"{model}:{backend}"
        if store.model(mid) is not None:
            self._json({"detail": f"Model {mid} already registered"}, 409)
            return
        lo, hi = int(scaling.get("min_instances", 0)), int(scaling.get("max_instances", 1))
        now = time.time()
        store.q("INSERT INTO models VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)", mid, model, backend, lo, lo, hi,
                int(scaling.get("target_ongoing_requests", 5)), int(scaling.get("keep_alive_seconds", 0)),
                json.dumps(body.get("backend_config") or {}), now, now)
        self._json({"model_id": mid, "status": "active", "message": f"Model {mid} registered successfully"})

    def _storage_report(self, body: dict[str, Any]) -> None:
        store = self.server.head.store
        node, endpoint = str(body.get("node_name") or ""), str(body.get("sllm_store_endpoint") or "")
        known = (store.q("SELECT node_name FROM node_storage WHERE sllm_store_endpoint = ?", endpoint)
                 or store.q("SELECT node_name FROM node_storage WHERE node_name = ?", node))
        name = known[0]["node_name"] if known else node
        store.q("INSERT INTO node_storage VALUES (?, ?, ?, ?) ON CONFLICT(node_name) DO UPDATE SET "
                "sllm_store_endpoint = excluded.sllm_store_endpoint, cached_models = excluded.cached_models, "
                "last_cache_update = excluded.last_cache_update",
                name, endpoint, json.dumps(body.get("cached_models") or []), time.time())
        self._json({"status": "ok"})

    def _inference(self, path: str, body: dict[str, Any]) -> None:
        head = self.server.head
        mid = str(body.get("model") or "")
        model = head.store.model(mid)
        if model is None or model["status"] != "active":
            self._json({"detail": f"Model {mid} not found"}, 404)
            return
        try:
            endpoint = head.wait_endpoint(mid)
        except OverflowError:
            self._json({"detail": "Too many pending requests"}, 503)
            return
        if endpoint is None:
            self._json({"detail": f"Timed out waiting for an instance of {mid}"}, 503)
            return
        forwarded = body if head.forward_model_id else {**body, "model": model["model_name"]}
        try:
            self._relay(f"http://{endpoint}{path}", forwarded)
        finally:
            head.done(mid)

    def _relay(self, url: str, body: dict[str, Any]) -> None:
        """The backend's answer, relayed with HTTP 200 whatever its own status (as the head does)."""
        try:
            with httpx.stream("POST", url, json=body, timeout=httpx.Timeout(300.0, connect=5.0)) as response:
                if "text/event-stream" in response.headers.get("content-type", ""):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in response.iter_raw():
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                data = response.read()
        except httpx.HTTPError as exc:
            self._json({"error": f"backend request failed: {type(exc).__name__}: {exc}"}, 200)
            return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        self._send(200, data, response.headers.get("content-type", "application/json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standin_sllm_head", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8343)
    parser.add_argument("--pylet-url", "--pylet-endpoint", dest="pylet_url", default="http://127.0.0.1:8000")
    parser.add_argument("--db", "--database-path", dest="db", default=":memory:")
    parser.add_argument("--storage-path", default="/models")
    parser.add_argument("--reconcile-interval", type=float, default=3.0)
    parser.add_argument("--cancel-works", action="store_true", help="fc37102's fixed cancel (by id)")
    parser.add_argument("--forward-model-id", action="store_true", help="forward model:backend unchanged (28fffaf)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    pylet: Pylet | None = Pylet(args.pylet_url)
    try:
        assert pylet is not None
        pylet.workers()
    except (httpx.HTTPError, ValueError) as exc:
        log.error("Pylet at %s not reachable (%s): running without Pylet until restarted", args.pylet_url, exc)
        pylet = None
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    head = Head(Store(args.db), pylet, self_url=f"http://{shown}:{args.port}", storage_path=args.storage_path,
                interval=args.reconcile_interval, cancel_works=args.cancel_works,
                forward_model_id=args.forward_model_id)
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc.strerror)
        return 1
    server.head = head
    if pylet is not None:
        threading.Thread(target=head.run, daemon=True, name="reconciler").start()
    log.info("standin sllm head %s on http://%s:%s, Pylet %s", VERSION, args.host, args.port,
             args.pylet_url if pylet else "not connected")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        head.stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
