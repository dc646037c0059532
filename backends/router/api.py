"""Reading SGLang router replies of every generation into WorkerRows.

0.3.x: `{"workers": [{"id", "url", "model_id", "is_healthy", "load", ...}], "total", "stats"}`.
0.2.4: the same list, with `id` equal to the url. Legacy: `{"urls": [...]}` and plain-text
replies to add/remove. Some proxies return a bare list of urls or worker objects.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

from servedeck import bounded

from servedeck.backends.rows import WorkerRow

_MAX_REPLY = 160
# A worker list of 10,000 workers is ~3 MB; a reply past this is refused, not parsed.
MAX_REPLY_BYTES = 16 * bounded.MIB


class RouterReplyError(ValueError):
    """The router's reply has none of the known shapes."""


def json_of(response: httpx.Response) -> Any:
    """The reply's JSON, bounded in size and depth; ValueError (one line) when it is not."""
    return bounded.loads_json(response.content, what="the router's reply", max_bytes=MAX_REPLY_BYTES)


def _json(response: httpx.Response) -> Any:
    try:
        return json_of(response)
    except ValueError:
        return None


def looks_like_workers(response: httpx.Response) -> bool:
    doc = _json(response)
    return isinstance(doc, dict) and isinstance(doc.get("workers"), list)


def looks_like_legacy(response: httpx.Response) -> bool:
    doc = _json(response)
    return isinstance(doc, dict) and isinstance(doc.get("urls"), list)


def parse_workers(doc: Any, router: str) -> tuple[WorkerRow, ...]:
    if isinstance(doc, dict) and isinstance(doc.get("workers"), list):
        items = doc["workers"]
    elif isinstance(doc, dict) and isinstance(doc.get("urls"), list):
        items = doc["urls"]
    elif isinstance(doc, list):
        items = doc
    else:
        raise RouterReplyError("no workers or urls list")
    rows = [_row(item, router) for item in items]
    return tuple(sorted(rows, key=lambda r: r.url))


def _row(item: Any, router: str) -> WorkerRow:
    if isinstance(item, str):
        return WorkerRow(router=router, id=item, url=item, healthy=None, load=None, model="")
    if not isinstance(item, dict) or not item.get("url"):
        raise RouterReplyError(f"worker entry without url: {str(item)[:60]}")
    url = str(item["url"])
    healthy = item.get("is_healthy", item.get("healthy"))
    load = item.get("load")
    return WorkerRow(
        router=router,
        id=str(item.get("id") or url),
        url=url,
        healthy=healthy if isinstance(healthy, bool) else None,
        load=int(load) if isinstance(load, (int, float)) and not isinstance(load, bool) and math.isfinite(load)
        else None,
        model=str(item.get("model_id") or item.get("model") or ""),
    )


def reply_text(response: httpx.Response) -> str:
    """One line of what the router said: a JSON message/error field or the plain text."""
    doc = _json(response)
    if isinstance(doc, dict):
        for key in ("message", "error", "detail", "status"):
            if doc.get(key):
                value = doc[key]
                if isinstance(value, dict):
                    value = value.get("message") or value
                return " ".join(str(value).split())[:_MAX_REPLY]
    return " ".join(response.text.split())[:_MAX_REPLY]


def reply_suffix(response: httpx.Response) -> str:
    text = reply_text(response)
    return f" ({text})" if text else ""
