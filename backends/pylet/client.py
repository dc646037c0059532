"""A small httpx client for a JSON HTTP head (Pylet's, sllm's): one error type out.

Transport failures become `BackendError(reachable=False)` (the backend is down), HTTP
errors a `HeadError` whose message is the head's own one-line `detail`, so a widget or a
verb never sees an httpx exception.
"""

from __future__ import annotations

from typing import Any

from servedeck.backends.base import BackendError
from servedeck.backends.lazy import lazy
from servedeck.backends.router.api import reply_text

httpx = lazy("httpx")  # loaded in the first poll, not before the first frame


class HeadError(BackendError):
    """The head answered, with an HTTP error status."""

    def __init__(self, message: str, status: int, detail: str, *, hint: str = ""):
        super().__init__(message, hint=hint, reachable=True)
        self.status = status
        self.detail = detail


class JsonHead:
    """Requests to one head; `what` names it in messages ("pylet head at http://…")."""

    def __init__(self, url: str, what: str, *, timeout: float = 5.0, hint: str = "",
                 transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self.what = what
        self.hint = hint
        self.timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=self.timeout, transport=self._transport)
        return self._client

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        try:
            if timeout is not None:
                kwargs["timeout"] = timeout
            return self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise BackendError(f"{self.what} at {self.url} did not answer within {timeout or self.timeout:g}s",
                               hint=self.hint) from None
        except httpx.TransportError as exc:
            raise BackendError(f"{self.what} not reachable at {self.url} ({type(exc).__name__})",
                               hint=self.hint) from None

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request whose HTTP error status raises HeadError with the head's detail."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            detail = reply_text(response) or response.reason_phrase
            raise HeadError(f"{self.what}: {method} {path} answered HTTP {response.status_code}: {detail}",
                            response.status_code, detail)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"{self.what}: {method} {path} answered something that is not JSON",
                               reachable=True) from None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
