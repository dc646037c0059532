"""The router backend against both API generations, served by httpx.MockTransport.

The replies copy what the real routers answered (0.3.2 for /workers, 0.1.9 for the legacy
routes, as recorded in notes/real-services.md); the integration test runs the real 0.3.2.
"""

from __future__ import annotations

import json

import httpx
import pytest

from servedeck.backends.base import BackendError, Health
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.backends.runner import BackendRunner

W1 = "http://127.0.0.1:31000"
W2 = "http://127.0.0.1:31001"


class Router032:
    """The 0.3.2 surface: /workers JSON with uuid ids, DELETE /workers/{id}; no legacy routes."""

    def __init__(self):
        self.workers = {"u-1": (W1, True), "u-2": (W2, False)}
        self.seen: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        if request.url.path == "/health":
            return httpx.Response(200, text="OK")
        if request.method == "GET" and request.url.path == "/workers":
            return httpx.Response(200, json={"workers": [
                {"id": i, "url": u, "model_id": "m", "is_healthy": h, "load": 3, "worker_type": "regular"}
                for i, (u, h) in self.workers.items()], "total": len(self.workers), "stats": {}})
        if request.method == "DELETE" and request.url.path.startswith("/workers/"):
            wid = request.url.path.rsplit("/", 1)[1]
            if self.workers.pop(wid, None) is None:
                return httpx.Response(404, json={"error": {"message": f"worker {wid} not found"}})
            return httpx.Response(202, json={"status": "accepted", "worker_id": wid})
        return httpx.Response(404, text="")


class Router019:
    """The legacy surface: /list_workers -> {"urls": [...]}, plain-text add/remove replies."""

    def __init__(self):
        self.urls = [W1]
        self.seen: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, str(request.url)))
        path = request.url.path
        if path == "/health":
            return httpx.Response(200, text="")
        if path == "/list_workers":
            return httpx.Response(200, json={"urls": self.urls})
        if path == "/remove_worker" and request.method == "POST":
            url = request.url.params["url"]
            self.urls.remove(url)
            return httpx.Response(200, text=f"Successfully removed worker: {url}")
        if path == "/add_worker" and request.method == "POST":
            url = request.url.params["url"]
            self.urls.append(url)
            return httpx.Response(200, text=f"Successfully added worker: {url}")
        return httpx.Response(404, text="Not Found")


def backend(handler, **kw) -> RouterBackend:
    settings = RouterSettings(name="r", url="http://router.test", **kw)
    return RouterBackend(settings, transport=httpx.MockTransport(handler))


def test_workers_api_rows_and_degraded_when_one_unhealthy():
    router = Router032()
    snap = BackendRunner(backend(router)).poll_once(frozenset({"workers"}))
    assert snap.state.health is Health.DEGRADED
    assert snap.state.message == f"1 of 2 workers unhealthy: {W2}"
    rows = snap.panes["workers"]
    assert [(r.id, r.url, r.healthy, r.load, r.model) for r in rows] == [
        ("u-1", W1, True, 3, "m"), ("u-2", W2, False, 3, "m")]


def test_workers_api_remove_deletes_by_id():
    router = Router032()
    b = backend(router)
    router.workers["u-2"] = (W2, True)
    rows = b.poll(frozenset({"workers"}))["workers"]
    result = b.perform("worker.remove", rows[1])
    assert result.ok, result.message
    assert ("DELETE", "/workers/u-2") in router.seen
    assert [r.id for r in b.poll(frozenset({"workers"}))["workers"]] == ["u-1"]


def test_legacy_api_detected_and_remove_posts_url():
    router = Router019()
    b = backend(router)
    rows = b.poll(frozenset({"workers"}))["workers"]
    assert [(r.id, r.url, r.healthy, r.load) for r in rows] == [(W1, W1, None, None)]
    assert b.add_worker(W2).ok
    result = b.perform("worker.remove", rows[0])
    assert result.ok and f"Successfully removed worker: {W1}" in result.message
    assert router.urls == [W2]


def test_forced_legacy_never_asks_for_workers():
    router = Router019()
    b = backend(router, api="legacy")
    b.poll(frozenset({"workers"}))
    assert not any(url.endswith("/workers") for _, url in router.seen)


def test_endpoint_overrides():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, dict(request.url.params)))
        if request.url.path == "/workers/list":
            return httpx.Response(200, json={"urls": [W1]})
        return httpx.Response(200, text="ok")

    b = backend(handler, endpoints={"list": "/workers/list", "remove": "/workers/remove"})
    rows = b.poll(frozenset({"workers"}))["workers"]
    assert b.perform("worker.remove", rows[0]).ok
    assert seen[-1] == ("POST", "/workers/remove", {"url": W1})


def test_auth_header_comes_from_env_and_is_never_shown(monkeypatch):
    secret = "s3cr3t-token-value"
    got = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append(request.headers.get("X-Router-Token"))
        if request.headers.get("X-Router-Token") != secret:
            return httpx.Response(401, text=f"bad token {request.headers.get('X-Router-Token')}")
        return httpx.Response(200, json={"workers": []})

    b = backend(handler, auth_header_name="X-Router-Token", auth_header_env="ROUTER_TOKEN_T")
    monkeypatch.delenv("ROUTER_TOKEN_T", raising=False)
    with pytest.raises(BackendError) as missing:
        b.poll(frozenset({"workers"}))
    assert "ROUTER_TOKEN_T" in missing.value.message
    monkeypatch.setenv("ROUTER_TOKEN_T", "wrong-" + secret)
    with pytest.raises(BackendError) as refused:
        b.poll(frozenset({"workers"}))
    assert "401" in refused.value.message and secret not in refused.value.message + refused.value.hint
    monkeypatch.setenv("ROUTER_TOKEN_T", secret)
    assert b.poll(frozenset({"workers"})) == {"workers": ()}
    assert got[-1] == secret


def test_neither_api_is_a_clear_error():
    b = backend(lambda request: httpx.Response(404, text="Not Found"))
    snap = BackendRunner(b).poll_once(frozenset({"workers"}))
    assert snap.state.health is Health.DEGRADED
    assert "neither /workers nor /list_workers" in snap.state.message


def test_reachability_uses_health_only():
    router = Router032()
    assert backend(router).poll(frozenset()) == {}
    assert router.seen == [("GET", "/health")]


def test_malformed_worker_list_is_reported_not_raised():
    b = backend(lambda request: httpx.Response(200, content=json.dumps({"workers": [{"id": 1}]})), api="workers")
    snap = BackendRunner(b).poll_once(frozenset({"workers"}))
    assert snap.state.health is Health.DEGRADED and "unexpected" in snap.state.message
