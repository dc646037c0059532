"""SSH tunnels over the shared connections: local (-L) and reverse (-R) forwards.

A `Tunnel` is supervised by one thread: it (re)establishes the forward on the host's
shared paramiko transport, watches that transport, and after a drop (sshd restarted,
network gone) says `reconnecting` and brings the forward back with backoff (the pool's).
A `-L` tunnel keeps its local listening socket throughout, opening one `direct-tcpip`
channel per accepted connection; a `-R` tunnel asks the server to listen
(`request_port_forward`) and connects each incoming channel to its local target. Bytes
and connections are counted per tunnel; a far end that refuses connections is recorded
as the tunnel's error. No Textual here.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from servedeck.backends.base import BackendError
from servedeck.backends.lazy import lazy
from servedeck.backends.rows import TunnelRow

paramiko = lazy("paramiko", "common")  # loaded when a tunnel first opens, in its thread

_CHUNK = 256 * 1024  # one read, several 32 KiB SSH packets
_WATCH_S = 0.5
_CONNECT_WAIT_S = 10.0  # how long a client of a -L tunnel waits for the SSH connection


@dataclass(frozen=True)
class TunnelSpec:
    """What to forward. For `local`: listen on local_host:local_port, connect to
    remote_host:remote_port from the ssh host. For `reverse`: the ssh host listens on
    remote_host:remote_port and connects back to local_host:local_port here."""

    name: str
    ssh: str
    mode: str  # local | reverse
    local_host: str
    local_port: int
    remote_host: str
    remote_port: int

    @property
    def local(self) -> str:
        return f"{self.local_host}:{self.local_port}"

    @property
    def remote(self) -> str:
        return f"{self.remote_host}:{self.remote_port}"


class Tunnel:
    """One supervised forward; `start`/`stop` from any thread, `row()` for the pane."""

    def __init__(self, spec: TunnelSpec, pool, on_change: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.spec = spec
        self.pool = pool
        self.on_change = on_change
        self.clock = clock
        self.state = "closed"
        self.error = ""
        self.since: float | None = clock()
        self.bytes_in = 0
        self.bytes_out = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._transport: paramiko.Transport | None = None
        self._was_up = False
        self._open: set[tuple[socket.socket, paramiko.Channel]] = set()  # forwarded connections
        self._up = threading.Event()  # set while state == "up": connections wait for it

    # -- public -----------------------------------------------------------------------

    def start(self) -> None:
        """Open the forward; returns once the local listener (for -L) is bound."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        if self.spec.mode == "local":
            self._listen()
        self._was_up = False
        self._set("down", "connecting")
        self._thread = threading.Thread(target=self._supervise, name=f"tunnel-{self.spec.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # stops listening now, wakes accept()
            except OSError:
                pass
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=2)
            self._acceptor = None
        self._cancel_reverse()
        self._hang_up_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        self._set("closed", "")

    def wait_up(self, timeout: float) -> bool:
        return self._up.wait(timeout)

    def row(self) -> TunnelRow:
        with self._lock:
            return TunnelRow(
                name=self.spec.name, mode=self.spec.mode, ssh=self.spec.ssh, local=self.spec.local,
                remote=self.spec.remote, state=self.state, connections=self.connections,
                bytes_in=self.bytes_in, bytes_out=self.bytes_out, error=self.error, since=self.since,
            )

    # -- state ------------------------------------------------------------------------

    def _set(self, state: str, error: str | None = None) -> None:
        if state == "up":
            self._was_up = True
        changed = False
        with self._lock:
            if state != self.state:
                self.state, self.since, changed = state, self.clock(), True
            if error is not None and error != self.error:
                self.error, changed = error, True
        # after the state: a client woken by the event reads state "up"
        (self._up.set if state == "up" else self._up.clear)()
        if changed and self.on_change is not None:
            self.on_change()

    def _count(self, inbound: int = 0, outbound: int = 0, conns: int = 0) -> None:
        with self._lock:
            self.bytes_in += inbound
            self.bytes_out += outbound
            self.connections += conns

    # -- supervision ------------------------------------------------------------------

    def _supervise(self) -> None:
        host = self.pool.host(self.spec.ssh)
        every = float(host.keepalive_s or 15)
        next_probe = time.monotonic() + every
        while not self._stop.is_set():
            try:
                transport = self.pool.transport(self.spec.ssh)
            except BackendError as exc:
                self._set("reconnecting" if self._was_up else "down", exc.message)
                self._stop.wait(1.0)
                continue
            if transport is not self._transport:
                if not self._establish(transport):
                    self._stop.wait(1.0)
                    continue
            if not transport.is_active():
                self.pool.drop(self.spec.ssh)
                self._transport = None
                self._set("reconnecting", f"ssh connection to {self.spec.ssh} dropped")
                continue
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + every
                try:
                    self.pool.probe(self.spec.ssh, timeout=max(2.0, min(every, 10.0)))
                except BackendError as exc:
                    self._transport = None
                    self._set("reconnecting", exc.message)
                    continue
            self._stop.wait(_WATCH_S)

    def _establish(self, transport: paramiko.Transport) -> bool:
        """Bind the forward to a (new) transport; for -L, probe that the far end answers."""
        self._transport = transport
        if self.spec.mode == "reverse":
            try:
                port = transport.request_port_forward(self.spec.remote_host, self.spec.remote_port, self._incoming)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._transport = None
                self._set("down", f"ssh host {self.spec.ssh} refused to listen on {self.spec.remote}: {exc or 'denied'}")
                return False
            if port and port != self.spec.remote_port:
                self._set("up", f"server listens on port {port}")
            else:
                self._set("up", "")
            return True
        self._set("up", self._probe(transport))
        return True

    def _probe(self, transport: paramiko.Transport) -> str:
        """'' when the far end accepts a connection, else why not."""
        try:
            channel = transport.open_channel("direct-tcpip", (self.spec.remote_host, self.spec.remote_port),
                                             ("127.0.0.1", 0), timeout=10)
        except paramiko.ChannelException as exc:
            return self._refused(exc)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return f"cannot open a channel to {self.spec.remote}: {exc}"
        channel.close()
        return ""

    def _refused(self, exc: paramiko.ChannelException) -> str:
        if exc.code == paramiko.common.OPEN_FAILED_CONNECT_FAILED:
            return f"far end {self.spec.remote} refused the connection (from ssh host {self.spec.ssh})"
        return f"ssh host {self.spec.ssh} would not open a channel to {self.spec.remote}: {exc.text}"

    def _cancel_reverse(self) -> None:
        transport, self._transport = self._transport, None
        if self.spec.mode == "reverse" and transport is not None and transport.is_active():
            try:
                transport.cancel_port_forward(self.spec.remote_host, self.spec.remote_port)
            except (paramiko.SSHException, OSError, EOFError):
                pass

    # -- -L ---------------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.spec.local_host, self.spec.local_port))
        except OSError as exc:
            sock.close()
            self._set("down", f"cannot listen on {self.spec.local}: {exc.strerror or exc}")
            raise BackendError(f"tunnel {self.spec.name}: cannot listen on {self.spec.local}: "
                               f"{exc.strerror or exc}", hint="choose another local port or use auto",
                               reachable=True) from None
        sock.listen(64)
        sock.settimeout(0.5)
        self._listener = sock
        self._acceptor = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True,
                                          name=f"tunnel-{self.spec.name}-accept")
        self._acceptor.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, peer = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # listener closed
            threading.Thread(target=self._forward_local, args=(client, peer), daemon=True).start()

    def _forward_local(self, client: socket.socket, peer) -> None:
        # The listener is bound before the SSH connection is up (and stays bound while it
        # reconnects): a client that arrives then waits for it, as it would on a slow
        # network, instead of being reset (a just-restarted orchestrator's first probes
        # were reset and counted as failures).
        deadline = time.monotonic() + _CONNECT_WAIT_S
        while not self._up.wait(_WATCH_S):
            if self._stop.is_set() or time.monotonic() > deadline:
                client.close()
                return
        transport = self._transport
        if transport is None or not transport.is_active() or self.state != "up":
            client.close()
            return
        try:
            channel = transport.open_channel("direct-tcpip", (self.spec.remote_host, self.spec.remote_port),
                                             peer, timeout=10)
        except paramiko.ChannelException as exc:
            self._set(self.state, self._refused(exc))
            client.close()
            return
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._set(self.state, f"cannot open a channel to {self.spec.remote}: {exc}")
            client.close()
            return
        if self.error.startswith("far end"):
            self._set(self.state, "")
        self._pump(client, channel)

    # -- -R ---------------------------------------------------------------------------

    def _incoming(self, channel: paramiko.Channel, origin, server) -> None:
        threading.Thread(target=self._forward_reverse, args=(channel,), daemon=True).start()

    def _forward_reverse(self, channel: paramiko.Channel) -> None:
        try:
            sock = socket.create_connection((self.spec.local_host, self.spec.local_port), timeout=10)
        except OSError as exc:
            self._set(self.state, f"local target {self.spec.local} refused the connection: {exc.strerror or exc}")
            channel.close()
            return
        self._pump(sock, channel)

    # -- both -------------------------------------------------------------------------

    def _pump(self, sock: socket.socket, channel: paramiko.Channel) -> None:
        """Copy both ways until either side closes. `bytes_in` is what came through the SSH
        channel (from the far side), `bytes_out` what went into it, for -L and -R alike.

        One blocking thread per direction (no select loop: polling the channel costs
        paramiko a pipe write per packet, and the loop a syscall per chunk); whichever
        side ends first hangs up both, which wakes the other thread.
        """
        self._count(conns=1)
        pair = (sock, channel)
        with self._lock:
            self._open.add(pair)
        try:
            sock.settimeout(None)
            inbound = threading.Thread(target=self._copy_in, args=pair, daemon=True,
                                       name=f"tunnel-{self.spec.name}-in")
            inbound.start()
            self._copy_out(sock, channel)
            inbound.join()
        finally:
            _hang_up(sock, channel)
            sock.close()
            with self._lock:
                self._open.discard(pair)
            self._count(conns=-1)

    def _copy_out(self, sock: socket.socket, channel: paramiko.Channel) -> None:
        try:
            while data := sock.recv(_CHUNK):
                channel.sendall(memoryview(data))  # sliced per packet without copying the rest
                self._count(outbound=len(data))
        except (OSError, paramiko.SSHException, EOFError):
            pass
        finally:
            _hang_up(sock, channel)

    def _copy_in(self, sock: socket.socket, channel: paramiko.Channel) -> None:
        try:
            while data := channel.recv(_CHUNK):
                sock.sendall(data)
                self._count(inbound=len(data))
        except (OSError, paramiko.SSHException, EOFError):
            pass
        finally:
            _hang_up(sock, channel)

    def _hang_up_all(self) -> None:
        with self._lock:
            pairs = list(self._open)
        for sock, channel in pairs:
            _hang_up(sock, channel)


def _hang_up(sock: socket.socket, channel: paramiko.Channel) -> None:
    """End a forwarded connection from any thread: wakes a recv blocked on either side."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut, or the peer reset it
    try:
        channel.close()  # sends CHANNEL_CLOSE: fails when the SSH connection itself is gone
    except (OSError, EOFError, paramiko.SSHException):
        pass
