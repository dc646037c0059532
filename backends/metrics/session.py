"""The HTTP session of the Prometheus backend, in its own module so that requests is
imported only when the backend first talks to Prometheus (in a poll), not at start."""

from __future__ import annotations

from typing import Any

import requests


class CountingSession(requests.Session):
    """A requests session that counts the HTTP requests it sends (for the benchmark and
    the test that the count per refresh does not grow with the fleet)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent += 1
        return super().request(*args, **kwargs)
