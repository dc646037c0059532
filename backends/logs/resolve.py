"""`KIND/NAME` -> a LogSource: `file/` is built in, other kinds are asked of every
configured backend that declares the kind in `log_kinds`. Used by the CLI and the TUI."""

from __future__ import annotations

from pathlib import Path

from servedeck.backends.base import BackendError
from servedeck.backends.logs.files import FileSource
from servedeck.backends.logs.source import LogSource, UnknownLogSource, split_spec


def resolve(spec: str, runners) -> LogSource:
    """Blocking. Raises UnknownLogSource with a one-line reason when nothing has it."""
    kind, name = split_spec(spec.strip())
    if kind == "file":
        path = Path(name).expanduser()
        return FileSource(path, f"file/{path}")
    offering = [r for r in runners if kind in getattr(r.backend, "log_kinds", ())]
    if not offering:
        kinds = sorted({"file", *(k for r in runners for k in getattr(r.backend, "log_kinds", ()))})
        raise UnknownLogSource(f"no configured backend streams {kind}/ logs (known kinds: {', '.join(kinds)})")
    problems = []
    for runner in offering:
        try:
            source = runner.backend.log_source(kind, name)
        except BackendError as exc:
            problems.append(f"{runner.name}: {exc.message}")
            continue
        except Exception as exc:
            problems.append(f"{runner.name}: {type(exc).__name__}: {exc}")
            continue
        if source is not None:
            return source
    where = ", ".join(r.name for r in offering)
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise UnknownLogSource(f"{kind}/{name} not found on {where}{detail}")
