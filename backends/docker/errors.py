"""Docker SDK failures phrased for an operator (one line, with a hint)."""

from __future__ import annotations

from servedeck.backends.base import BackendError
from servedeck.backends.lazy import lazy

docker = lazy("docker", "errors")
requests = lazy("requests", "exceptions")


def translate(exc: BaseException, url: str, timeout: float) -> BackendError:
    """Map what docker-py / requests / OSError raised to a BackendError (state down)."""
    if isinstance(exc, BackendError):  # ssh:// hosts: the SSH pool already said what is wrong
        return BackendError(f"Docker Engine at {url} not reachable: {exc.message}", hint=exc.hint)
    text = chain_text(exc)
    if "No such file or directory" in text or "FileNotFoundError" in text:
        return BackendError(f"Docker Engine not reachable at {url} (no such socket)",
                            hint="start dockerd or set backends.docker[].url")
    if "Permission denied" in text or "PermissionError" in text:
        return BackendError(f"permission denied on Docker Engine socket {url}",
                            hint="add your user to the docker group or point url at a socket you may use")
    if "timed out" in text.lower() or "Timeout" in text:
        return BackendError(f"Docker Engine at {url} did not answer within {timeout:g}s",
                            hint="check dockerd is healthy, or raise backends.docker[].timeout")
    if "Connection refused" in text or "ConnectionRefused" in text:
        return BackendError(f"Docker Engine not reachable at {url} (connection refused)",
                            hint="start dockerd or set backends.docker[].url")
    if isinstance(exc, docker.errors.DockerException) and "url" in text.lower() and "scheme" in text.lower():
        return BackendError(f"invalid Docker Engine url {url}", hint="use unix://, tcp:// or ssh://")
    first = text.splitlines()[0] if text else type(exc).__name__
    return BackendError(f"Docker Engine not reachable at {url}: {first[:200]}",
                        hint="start dockerd or set backends.docker[].url")


def api_text(exc: docker.errors.APIError) -> str:
    return str(getattr(exc, "explanation", None) or exc)[:200]


def chain_text(exc: BaseException) -> str:
    """All messages of an exception and its causes: docker-py wraps requests wraps OSError."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        if isinstance(current, requests.exceptions.RequestException) and current.args:
            inner = current.args[0]
            if isinstance(inner, BaseException):
                parts.append(f"{type(inner).__name__}: {inner}")
        current = current.__cause__ or current.__context__
    return " | ".join(parts)
