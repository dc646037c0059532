"""A recorded Pylet head (pylet/data/recorded.json: workers and instances as the lab's head
answered), served by httpx.MockTransport for unit, snapshot and benchmark runs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx

DATA = json.loads((Path(__file__).parent / "pylet" / "data" / "recorded.json").read_text())
NOW = 1796162767.0  # 2026-12-01 22:06:07 UTC: ten seconds after the last recorded heartbeat


class RecordedPylet:
    """Serves the recorded answers; `down` makes every request fail to connect."""

    def __init__(self, workers=None, instances=None, logs: bytes = b""):
        self.workers = DATA["workers"] if workers is None else workers
        self.instances = DATA["instances"] if instances is None else instances
        self.logs = logs
        self.available = 0  # bytes before this were rotated away
        self.down = False
        self.requests: list[tuple[str, str]] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path, method = request.url.path, request.method
        if path == "/workers" and method == "GET":
            return httpx.Response(200, json=self.workers)
        if path == "/instances" and method == "GET":
            return httpx.Response(200, json=self.instances)
        if path.startswith("/workers/") and method == "DELETE":
            wid = path.split("/")[2]
            worker = next((w for w in self.workers if w["worker_id"] == wid), None)
            if worker is None:
                return httpx.Response(404, json={"detail": "Worker not found"})
            if worker["status"] != "OFFLINE":
                return httpx.Response(400, json={"detail": "Cannot delete ONLINE or SUSPECT workers. "
                                                           "Only OFFLINE workers can be deleted."})
            if any(i["assigned_to"] == wid for i in self.instances):
                return httpx.Response(500, text="Internal Server Error")
            return httpx.Response(204)
        parts = path.split("/")
        if len(parts) >= 3 and parts[1] == "instances":
            inst = next((i for i in self.instances if i["instance_id"] == parts[2]), None)
            if inst is None:
                return httpx.Response(404, json={"detail": "Instance not found"})
            tail = parts[3] if len(parts) > 3 else ""
            if tail == "cancel":
                if inst["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                    return httpx.Response(400, json={"detail": f"Instance already in terminal state: {inst['status']}"})
                return httpx.Response(200, json={"status": "cancelling", "instance_id": parts[2]})
            if tail == "logs":
                offset = min(max(int(request.url.params.get("offset", 0)), self.available), len(self.logs))
                limit = int(request.url.params.get("limit", 1 << 20))
                chunk = self.logs[offset: offset + limit]
                return httpx.Response(200, json={"available_offset": self.available, "total_size": len(self.logs),
                                                 "content": base64.b64encode(chunk).decode(), "size": len(chunk)})
            if not tail and method == "GET":
                return httpx.Response(200, json=inst)
            if not tail and method == "DELETE":
                return httpx.Response(204)
        return httpx.Response(404, json={"detail": "Not Found"})
