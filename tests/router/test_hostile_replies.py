"""Hostile router replies: deep, huge or odd JSON is one line on the router's state and
never a traceback (issue 15, part 3)."""

from __future__ import annotations

import json

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from servedeck.backends.base import Health
from servedeck.backends.router.api import MAX_REPLY_BYTES, RouterReplyError, parse_workers, reply_text
from servedeck.backends.router.backend import RouterBackend, RouterSettings
from servedeck.backends.runner import BackendRunner


def backend(handler, **kw) -> RouterBackend:
    return RouterBackend(RouterSettings(name="r", url="http://router.test", **kw),
                         transport=httpx.MockTransport(handler))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
worker_keys = st.sampled_from(["url", "id", "is_healthy", "healthy", "load", "model_id", "model"])


def _router(body: bytes, status: int = 200):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, text="ok")
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})
    return handler


def _state(body: bytes, status: int = 200):
    snap = BackendRunner(backend(_router(body, status), api="workers")).poll_once(frozenset({"workers"}))
    return snap.state


def test_a_deeply_nested_worker_list_is_one_line_not_a_traceback():
    state = _state(b'{"workers": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert state.health is not Health.OK
    assert "nests deeper than" in state.message and "\n" not in state.message
    assert "Traceback" not in state.message and "RecursionError" not in state.message


def test_a_huge_reply_is_refused_at_the_limit():
    state = _state(b'{"workers": [], "pad": "' + b"x" * (MAX_REPLY_BYTES + 10) + b'"}')
    assert "over the 16.0 MB limit" in state.message


def test_an_error_body_with_control_and_bidi_characters_is_one_clean_line():
    body = json.dumps({"error": "bad\n\x1b[2Jthing\u202eevil"}).encode()
    state = _state(body, status=500)
    assert "\n" not in state.message and "\x1b" not in state.message and "\u202e" not in state.message


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["workers", "urls"]),
                           st.lists(st.dictionaries(worker_keys, json_values, max_size=6) | json_values,
                                    max_size=5)) | json_values)
def test_property_any_router_json_gives_rows_or_a_reply_error(doc):
    try:
        rows = parse_workers(doc, "r")
    except RouterReplyError as exc:
        assert "\n" not in str(exc)
        return
    assert all(r.load is None or isinstance(r.load, int) for r in rows)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_property_reply_text_is_one_short_line(body):
    text = reply_text(httpx.Response(400, content=body))
    assert "\n" not in text and len(text) <= 160
