"""Hostile exporter pages and Prometheus answers: bounded, one line, never a traceback
(issue 15, part 3)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servedeck.backends.base import Health
from servedeck.backends.metrics.prometheus import targets_to_rows
from servedeck.backends.metrics.scrape import MAX_PAGE_BYTES, ScrapeBackend, ScrapeSettings, parse_page
from servedeck.backends.runner import BackendRunner

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
target_keys = st.sampled_from(["labels", "scrapePool", "scrapeUrl", "discoveredLabels", "health",
                               "lastScrape", "lastError"])


@pytest.fixture
def endless_exporter():
    """A real HTTP server on loopback whose /metrics never ends (chunked, no length)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            line = b"# HELP x x\n" * 6000
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def test_an_endless_exporter_page_is_cut_at_the_limit(endless_exporter):
    backend = ScrapeBackend(ScrapeSettings(name="s", urls=[endless_exporter], timeout=10))
    try:
        snap = BackendRunner(backend).poll_once(frozenset({"nodes"}))
    finally:
        backend.close()
    assert snap.state.health is not Health.OK
    assert f"over the {MAX_PAGE_BYTES // 2**20}.0 MB limit" in snap.state.message


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_property_any_page_parses_or_is_a_value_error(text):
    try:
        page = parse_page(text, "i", 0.0)
    except ValueError:
        return  # the backend reports it as "not a Prometheus text page"
    assert all(s.labels["instance"] == "i" for s in page.samples)


@settings(max_examples=300, deadline=None)
@given(data=st.fixed_dictionaries({"activeTargets": st.lists(
    st.dictionaries(target_keys, json_values, max_size=7) | json_values, max_size=5)}) | json_values)
def test_property_any_targets_answer_gives_rows(data):
    rows = targets_to_rows(data if isinstance(data, dict) else {"activeTargets": data}, "p", 1e9)
    assert all(isinstance(r.job, str) for r in rows)
