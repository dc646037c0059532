"""The local control interface: a unix socket only the same user can use.

The socket file is created with mode 0600 (under a 0700 state dir) and every connection's
peer uid is checked (SO_PEERCRED) against ours. Protocol: one JSON object per line, one
JSON reply per line: {"cmd": "status" | "drain" | "restart" | "scale" | "pause" | "resume",
"deployment": NAME, "instance": ID?, "replicas": N? | "delta": N?} -> {"ok", "message", ...}.
"""

from __future__ import annotations

from servedeck import bounded

import json
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any, Callable

MAX_LINE = 65536
COMMANDS = ("status", "drain", "restart", "scale", "pause", "resume")


class ControlError(Exception):
    """The orchestrator is not reachable on its socket, or said something unreadable."""


class ControlServer:
    def __init__(self, path: Path, handler: Callable[[dict[str, Any]], dict[str, Any]]):
        self.path = Path(path)
        self.handler = handler
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()  # a stale socket of a dead orchestrator (the state lock is held by us)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            if not _same_user(conn):
                _send(conn, {"ok": False, "message": "refused: not the orchestrator's user"})
                return
            conn.settimeout(30)
            reader = conn.makefile("rb")
            try:
                while raw := reader.readline(MAX_LINE + 1):  # bounded: a line without end is cut
                    if len(raw) > MAX_LINE:
                        _send(conn, {"ok": False, "message": "request too long"})
                        return
                    try:
                        request = bounded.loads_json(raw, what="the request")
                        if not isinstance(request, dict):
                            raise ValueError("not an object")
                    except ValueError as exc:
                        _send(conn, {"ok": False, "message": f"bad request: {exc}"})
                        continue
                    try:
                        reply = self.handler(request)
                    except Exception as exc:  # the service must outlive a bad command
                        reply = {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
                    _send(conn, reply)
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        try:
            self.path.unlink()
        except OSError:
            pass


def _same_user(conn: socket.socket) -> bool:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return True  # no SO_PEERCRED on this platform: the 0600 mode still guards the socket
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _send(conn: socket.socket, doc: dict[str, Any]) -> None:
    conn.sendall(json.dumps(doc).encode() + b"\n")


def request(path: Path | str, doc: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one command to a running orchestrator and return its reply."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        _send(sock, doc)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except FileNotFoundError:
        raise ControlError(f"no orchestrator socket at {path}") from None
    except (ConnectionRefusedError, socket.timeout, OSError) as exc:
        raise ControlError(f"orchestrator at {path} not reachable ({type(exc).__name__})") from None
    finally:
        sock.close()
    try:
        reply = bounded.loads_json(data, what="the reply")
    except ValueError:
        raise ControlError(f"orchestrator at {path} sent an unreadable reply") from None
    if not isinstance(reply, dict):
        raise ControlError(f"orchestrator at {path} sent an unreadable reply")
    return reply
