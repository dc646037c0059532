"""A stand-in Kubernetes API server for OME's resources, with a stand-in OME controller.

No kube-apiserver can be installed on these machines, so OME mode is tested against this:
it serves the `ome.io/v1beta1` custom-resource paths the official `kubernetes` client
uses (create, get, list with label/field selectors, delete, merge-patch of the object and
its `/status`, and `?watch=true` chunked event streams with resourceVersion), plus
namespaces and discovery. The stand-in controller plays OME's part:
- an InferenceService gets a stand-in SGLang server process started with the engine
  runner's args (`CUDA_VISIBLE_DEVICES` for its `nvidia.com/gpu` count); when it answers
  /health the `Ready` condition turns True and `status.url` is set; if it exits, Ready
  is False (reason EngineFailed) with the log tail in `modelStatus.lastFailureInfo`;
- a BenchmarkJob goes Pending -> Running -> `Completed` (OME's word; not "Complete") or
  Failed, running servedeck's built-in benchmark (genai-bench's file format) against the
  InferenceService it names, into `outputLocation.storageUri` (file:// here).
Run: `python -m servedeck.lab.standin_kube_apiserver --port P --work-dir DIR`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

GROUP, VERSION = "ome.io", "v1beta1"
KINDS = {"inferenceservices": "InferenceService", "benchmarkjobs": "BenchmarkJob",
         "servingruntimes": "ServingRuntime", "clusterservingruntimes": "ClusterServingRuntime",
         "basemodels": "BaseModel", "clusterbasemodels": "ClusterBaseModel"}


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class Store:
    """Objects by (plural, namespace, name); every change is an event with a resourceVersion."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.namespaces: dict[str, dict[str, Any]] = {"default": self._ns("default")}
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.rv = 1
        self.listeners: list[queue.Queue] = []

    def _ns(self, name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": str(uuid.uuid4())},
                "status": {"phase": "Active"}}

    def _emit(self, plural: str, kind: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        snap = copy.deepcopy(obj)
        self.events.append((self.rv, plural, kind, snap))
        del self.events[:-5000]
        for q in self.listeners:
            q.put((plural, kind, snap))
        self.lock.notify_all()

    def create(self, plural: str, ns: str, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            name = (obj.get("metadata") or {}).get("name")
            if not name:
                return 422, status(422, "Invalid", "metadata.name is required")
            if (plural, ns, name) in self.objects:
                return 409, status(409, "AlreadyExists", f'{plural}.{GROUP} "{name}" already exists')
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
            obj.setdefault("status", {})
            self.objects[(plural, ns, name)] = obj
            self._emit(plural, "ADDED", obj)
            return 201, copy.deepcopy(obj)

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((plural, ns, name))
            return copy.deepcopy(obj) if obj else None

    def patch(self, plural: str, ns: str, name: str, patch: dict[str, Any], status_only: bool) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((plural, ns, name))
            if obj is None:
                return None
            if status_only:
                obj["status"] = merge_patch(obj.get("status") or {}, patch.get("status") or {})
            else:
                keep = obj["metadata"]
                merged = merge_patch(obj, {k: v for k, v in patch.items() if k != "status"})
                merged["metadata"] = {**keep, **{k: v for k, v in (patch.get("metadata") or {}).items()
                                                 if k in ("labels", "annotations")}}
                obj.clear()
                obj.update(merged)
            self._emit(plural, "MODIFIED", obj)
            return copy.deepcopy(obj)

    def delete(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.pop((plural, ns, name), None)
            if obj is not None:
                self._emit(plural, "DELETED", obj)
            return obj

    def list(self, plural: str, ns: str | None, labels: dict[str, str], fields: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(o) for (p, n, _), o in sorted(self.objects.items())
                    if p == plural and (ns is None or n == ns) and matches(o, labels, fields)]


def selector(text: str | None) -> dict[str, str]:
    out = {}
    for part in (text or "").split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip().rstrip("=")] = value.strip().lstrip("=")
    return out


def matches(obj: dict[str, Any], labels: dict[str, str], fields: dict[str, str]) -> bool:
    meta = obj.get("metadata") or {}
    have = meta.get("labels") or {}
    if any(have.get(k) != v for k, v in labels.items()):
        return False
    for key, value in fields.items():
        if key == "metadata.name" and meta.get("name") != value:
            return False
        if key == "metadata.namespace" and meta.get("namespace") != value:
            return False
    return True


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "ApiServer"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _send(self, code: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return None

    def _route(self) -> tuple[list[str], dict[str, list[str]]]:
        url = urlparse(self.path)
        return [p for p in url.path.split("/") if p], parse_qs(url.query)

    def do_GET(self) -> None:
        parts, query = self._route()
        store = self.server.store
        if parts == ["version"]:
            return self._send(200, {
                "major": "1", "minor": "32", "gitVersion": "v1.32.0-standin", "gitCommit": "standin",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none (stand-in)",
                "compiler": "standin", "platform": "linux/amd64"})
        if parts == ["api"]:
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if parts == ["apis"]:
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": GROUP, "versions": [{"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}],
                 "preferredVersion": {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}}]})
        if parts == ["apis", GROUP, VERSION]:
            return self._send(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{VERSION}",
                                    "resources": [{"name": p, "singularName": k.lower(), "namespaced": not p.startswith("cluster"),
                                                   "kind": k, "verbs": ["create", "delete", "get", "list", "patch", "watch"]}
                                                  for p, k in KINDS.items()]})
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
            with store.lock:
                ns = store.namespaces.get(parts[3])
            return self._send(200, ns) if ns else self._send(404, status(404, "NotFound", f'namespaces "{parts[3]}" not found'))
        target = self._resource(parts)
        if target is None:
            return self._send(404, status(404, "NotFound", f"no route {self.path}"))
        plural, ns, name, sub = target
        if name:
            obj = store.get(plural, ns, name)
            return self._send(200, obj) if obj else self._send(404, status(404, "NotFound", f'{plural}.{GROUP} "{name}" not found'))
        labels, fields = selector(query.get("labelSelector", [""])[0]), selector(query.get("fieldSelector", [""])[0])
        if query.get("watch", ["false"])[0] in ("true", "1"):
            return self._watch(plural, ns, labels, fields, query)
        items = store.list(plural, ns, labels, fields)
        self._send(200, {"apiVersion": f"{GROUP}/{VERSION}", "kind": KINDS.get(plural, "Object") + "List",
                         "items": items, "metadata": {"resourceVersion": str(store.rv)}})

    def _resource(self, parts: list[str]) -> tuple[str, str | None, str, str] | None:
        if parts[:3] != ["apis", GROUP, VERSION]:
            return None
        rest = parts[3:]
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        else:
            ns = None
        if not rest or rest[0] not in KINDS:
            return None
        return rest[0], ns, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""

    def _watch(self, plural: str, ns: str | None, labels: dict[str, str], fields: dict[str, str],
               query: dict[str, list[str]]) -> None:
        store = self.server.store
        timeout = float(query.get("timeoutSeconds", ["300"])[0])
        since = query.get("resourceVersion", [""])[0]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(kind: str, obj: dict[str, Any]) -> None:
            line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        deadline = time.monotonic() + timeout
        try:
            with store.lock:
                if since and since != "0":
                    cursor = int(since)
                else:
                    for obj in store.list(plural, ns, labels, fields):
                        send("ADDED", obj)
                    cursor = store.rv
            while time.monotonic() < deadline and not self.server.stopping:
                with store.lock:
                    pending = [e for e in store.events if e[0] > cursor]
                    if not pending:
                        store.lock.wait(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
                        continue
                for rv, p, kind, obj in pending:
                    cursor = rv
                    meta = obj["metadata"]
                    if p == plural and (ns is None or meta.get("namespace") == ns) and matches(obj, labels, fields):
                        send(kind, obj)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self) -> None:
        parts, _ = self._route()
        body = self._body()
        if not isinstance(body, dict):
            return self._send(400, status(400, "BadRequest", "body is not a JSON object"))
        if parts == ["api", "v1", "namespaces"]:
            name = (body.get("metadata") or {}).get("name", "")
            with self.server.store.lock:
                if name in self.server.store.namespaces:
                    return self._send(409, status(409, "AlreadyExists", f'namespaces "{name}" already exists'))
                self.server.store.namespaces[name] = self.server.store._ns(name)
                return self._send(201, self.server.store.namespaces[name])
        target = self._resource(parts)
        if target is None or target[2] or target[1] is None:
            return self._send(404, status(404, "NotFound", f"no route {self.path}"))
        plural, ns, _, _ = target
        with self.server.store.lock:
            if ns not in self.server.store.namespaces:
                return self._send(404, status(404, "NotFound", f'namespaces "{ns}" not found'))
        code, doc = self.server.store.create(plural, ns, body)
        self._send(code, doc)

    def do_PATCH(self) -> None:
        parts, _ = self._route()
        target = self._resource(parts)
        body = self._body()
        if target is None or not target[2] or not isinstance(body, dict):
            return self._send(404, status(404, "NotFound", f"no route {self.path}"))
        plural, ns, name, sub = target
        obj = self.server.store.patch(plural, ns or "", name, body, status_only=(sub == "status"))
        self._send(200, obj) if obj else self._send(404, status(404, "NotFound", f'{plural}.{GROUP} "{name}" not found'))

    do_PUT = do_PATCH

    def do_DELETE(self) -> None:
        parts, _ = self._route()
        target = self._resource(parts)
        if target is None or not target[2]:
            return self._send(404, status(404, "NotFound", f"no route {self.path}"))
        plural, ns, name, _ = target
        obj = self.server.store.delete(plural, ns or "", name)
        if obj is None:
            return self._send(404, status(404, "NotFound", f'{plural}.{GROUP} "{name}" not found'))
        self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name}})


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], store: Store) -> None:
        super().__init__(addr, Handler)
        self.store = store
        self.stopping = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Controller:
    """The stand-in OME controller: engines as local stand-in servers, benchmark jobs run here."""

    def __init__(self, store: Store, work_dir: Path) -> None:
        self.store, self.work_dir = store, work_dir
        self.engines: dict[tuple[str, str], tuple[subprocess.Popen, int, Path]] = {}
        self.events: queue.Queue = queue.Queue()
        store.listeners.append(self.events)

    def run(self) -> None:
        while True:
            plural, kind, obj = self.events.get()
            meta = obj["metadata"]
            key = (meta["namespace"], meta["name"])
            if plural == "inferenceservices" and kind == "ADDED":
                threading.Thread(target=self._engine, args=(obj,), daemon=True).start()
            elif plural == "inferenceservices" and kind == "DELETED":
                engine = self.engines.pop(key, None)
                if engine:
                    engine[0].terminate()
            elif plural == "benchmarkjobs" and kind == "ADDED":
                threading.Thread(target=self._bench, args=(obj,), daemon=True).start()

    def _condition(self, ready: bool, reason: str, message: str = "") -> list[dict[str, Any]]:
        state = "True" if ready else "False"
        return [{"type": t, "status": state, "reason": reason, "message": message, "lastTransitionTime": now_iso()}
                for t in ("EngineReady", "Ready")]

    def _engine(self, obj: dict[str, Any]) -> None:
        import httpx

        meta, spec = obj["metadata"], obj.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        engine = spec.get("engine") or {}
        runner = engine.get("runner") or (engine.get("containers") or [{}])[0]
        args = [str(a) for a in runner.get("args") or []]
        limits = (runner.get("resources") or {}).get("limits") or {}
        gpus = int(limits.get("nvidia.com/gpu", 1) or 0)
        port = free_port()
        log_path = self.work_dir / f"{ns}-{name}.log"
        model = ((spec.get("model") or {}).get("name")) or "standin-model"
        cmd = [sys.executable, "-m", "servedeck.lab.standin_sglang_launch", "--model-path", model,
               "--host", "127.0.0.1", *args, "--port", str(port)]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(gpus)),
               "STANDIN_STARTUP_DELAY": os.environ.get("STANDIN_STARTUP_DELAY", "0.5")}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.engines[(ns, name)] = (proc, port, log_path)
        self.store.patch("inferenceservices", ns, name, {"status": {
            "conditions": self._condition(False, "Initializing"),
            "components": {"engine": {"latestCreatedRevision": "1"}},
            "modelStatus": {"targetModelState": "Pending", "transitionStatus": "InProgress"}}}, True)
        url = f"http://127.0.0.1:{port}"
        while (ns, name) in self.engines:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-4000:]
                self.store.patch("inferenceservices", ns, name, {"status": {
                    "conditions": self._condition(False, "EngineFailed", f"engine exited with code {proc.returncode}"),
                    "modelStatus": {"transitionStatus": "UpgradeFailed",
                                    "lastFailureInfo": {"reason": "EngineFailed", "message": tail}}}}, True)
                return
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    self.store.patch("inferenceservices", ns, name, {"status": {
                        "conditions": self._condition(True, "Ready"), "url": url, "address": {"url": url},
                        "components": {"engine": {"latestReadyRevision": "1", "url": url}},
                        "modelStatus": {"targetModelState": "Loaded", "transitionStatus": "UpToDate"}}}, True)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def _bench(self, obj: dict[str, Any]) -> None:
        from servedeck.tuner import bench_builtin
        from servedeck.tuner.task import Benchmark

        meta, spec = obj["metadata"], obj.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]

        def state(value: str, **extra: Any) -> None:
            self.store.patch("benchmarkjobs", ns, name, {"status": {"state": value, "lastReconcileTime": now_iso(), **extra}}, True)

        state("Running", startTime=now_iso())
        try:
            ref = (spec.get("endpoint") or {}).get("inferenceService") or {}
            isvc = self.store.get("inferenceservices", ref.get("namespace") or ns, ref.get("name", ""))
            url = ((spec.get("endpoint") or {}).get("endpoint") or {}).get("url") or ((isvc or {}).get("status") or {}).get("url")
            if not url:
                raise RuntimeError("the endpoint has no URL (InferenceService not ready?)")
            storage = (spec.get("outputLocation") or {}).get("storageUri", "")
            if not storage.startswith("file://"):
                raise RuntimeError(f"stand-in controller can only write file:// output, not {storage[:40]}")
            params = spec.get("additionalRequestParams") or {}
            bench = Benchmark(task=spec.get("task", "text-to-text"), model_name=(spec.get("endpoint") or {}).get("endpoint", {}).get("modelName"),
                              traffic_scenarios=spec.get("trafficScenarios") or ["D(100,100)"],
                              num_concurrency=[int(c) for c in spec.get("numConcurrency") or [1]],
                              max_time_per_iteration=spec.get("maxTimePerIteration", 10),
                              max_requests_per_iteration=spec.get("maxRequestsPerIteration", 50),
                              additional_params={k: _number(v) for k, v in params.items()})
            bench_builtin.run(url, bench, Path(storage[len("file://"):]))
        except Exception as exc:
            state("Failed", failureMessage=f"{type(exc).__name__}: {exc}", completionTime=now_iso())
            return
        state("Completed", completionTime=now_iso())

    def stop(self) -> None:
        for proc, _, _ in self.engines.values():
            proc.terminate()


def _number(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def write_kubeconfig(path: Path, url: str, namespace: str = "default") -> None:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "standin",
        "clusters": [{"name": "standin", "cluster": {"server": url}}],
        "users": [{"name": "standin", "user": {"token": "standin"}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin", "namespace": namespace}}],
    }, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standin_kube_apiserver", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=16443)
    parser.add_argument("--work-dir", required=True, help="engine logs and the kubeconfig go here")
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    store = Store()
    controller = Controller(store, work)
    try:
        server = ApiServer((args.host, args.port), store)
    except OSError as exc:
        print(f"standin_kube_apiserver: cannot listen on {args.host}:{args.port}: {exc.strerror}")
        return 1
    url = f"http://{args.host}:{server.server_address[1]}"
    write_kubeconfig(work / "kubeconfig", url)
    threading.Thread(target=controller.run, name="standin-ome-controller", daemon=True).start()

    def terminate(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    print(f"standin_kube_apiserver: serving ome.io/v1beta1 on {url} (kubeconfig {work / 'kubeconfig'})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping = True
        controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
