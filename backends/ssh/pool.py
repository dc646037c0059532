"""A small pool of SSH connections, one per configured host, shared by every backend.

Every use of a host (SLURM commands now; tunnels and log tails later) goes through the
one paramiko connection the pool keeps for it, reconnecting when it dropped. Host keys
are verified: the system known_hosts and the host's own `known_hosts` file are loaded,
an unknown key is refused unless `accept_new_host_key` is set (then it is recorded), and
a changed key is always refused. paramiko and socket errors leave this module only as
`BackendError`s phrased for an operator; secrets never appear in them.
"""

from __future__ import annotations

import os
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from servedeck.backends.base import BackendError
from servedeck.backends.lazy import lazy
from servedeck.config.model import SSHHost

paramiko = lazy("paramiko")  # loaded by the first connection, in a worker thread

_READ_CHUNK = 65536


@dataclass(frozen=True)
class CommandResult:
    """What one command printed and how it ended."""

    rc: int
    stdout: str
    stderr: str


def describe(name: str, host: SSHHost) -> str:
    """`lab (root@127.0.0.1:2222)`: how messages name a host."""
    user = f"{host.user}@" if host.user else ""
    return f"{name} ({user}{host.hostname}:{host.port})"


class SSHPool:
    """One lazily opened paramiko connection per configured host name, thread-safe."""

    def __init__(self, hosts: Mapping[str, SSHHost]):
        self.hosts = dict(hosts)
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in self.hosts}
        self._backoff: dict[str, _Backoff] = {name: _Backoff() for name in self.hosts}
        self._closed = False

    # -- connections -------------------------------------------------------------------

    def host(self, name: str) -> SSHHost:
        try:
            return self.hosts[name]
        except KeyError:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise BackendError(
                f"ssh host {name!r} is not configured (configured: {known})",
                hint="add it under the config's ssh: section",
            ) from None

    def client(self, name: str) -> paramiko.SSHClient:
        """The live connection to a host, (re)connecting if there is none or it dropped."""
        host = self.host(name)
        with self._locks[name]:
            client = self._clients.get(name)
            if client is not None and _alive(client):
                return client
            if client is not None:
                client.close()
                self._clients.pop(name, None)
            backoff = self._backoff[name]
            wait = backoff.remaining()
            if wait > 0 and not _listening_now(host):  # a host that is back is reconnected at once
                raise BackendError(
                    backoff.last_error,
                    hint=f"{backoff.last_hint} (next reconnect attempt in {wait:.0f}s)".strip(),
                )
            try:
                client = self._connect(name, host)
            except BackendError as exc:
                backoff.failed(exc.message, exc.hint)
                raise
            backoff.succeeded()
            self._clients[name] = client
            return client

    def transport(self, name: str) -> paramiko.Transport:
        """The live transport of a host's shared connection (tunnels open channels on it)."""
        transport = self.client(name).get_transport()
        if transport is None:
            self.drop(name)
            raise BackendError(f"ssh host {name}: connection closed", hint="it reconnects by itself")
        return transport

    def probe(self, name: str, timeout: float) -> None:
        """Prove the host's open connection still answers (opens and closes a channel).

        TCP alone can take many minutes to notice a network that silently dropped; a
        probe that times out drops the connection so its users reconnect now.
        """
        with self._locks[name]:
            client = self._clients.get(name)
        transport = client.get_transport() if client is not None else None
        if transport is None or not transport.is_active():
            return
        try:
            transport.open_session(timeout=timeout).close()
        except (paramiko.SSHException, OSError, EOFError):
            self.drop(name)
            raise BackendError(
                f"ssh host {describe(name, self.hosts[name])} stopped answering (no reply within {timeout:g}s)",
                hint="the network or the host dropped; reconnecting",
            ) from None

    def open_command(self, name: str, argv: Sequence[str], timeout: float = 30.0) -> paramiko.Channel:
        """Start one long-running command (a `tail -F`) on the shared connection; the caller
        reads the channel and closes it. The argument list is quoted with shlex.join."""
        command = shlex.join(list(argv))
        try:
            channel = self.transport(name).open_session(timeout=timeout)
            channel.exec_command(command)
            return channel
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.drop(name)
            raise _translate(name, self.hosts[name], exc) from None

    def drop(self, name: str) -> None:
        """Forget a host's connection (after an error) so the next use reconnects."""
        lock = self._locks.get(name)
        if lock is None:
            return
        with lock:
            client = self._clients.pop(name, None)
        if client is not None:
            client.close()

    def _connect(self, name: str, host: SSHHost) -> paramiko.SSHClient:
        from servedeck.backends.ssh import hostkeys

        client = paramiko.SSHClient()
        try:
            client.load_system_host_keys()
        except OSError:
            pass  # no readable ~/.ssh/known_hosts: only the host's own file counts
        if host.known_hosts and os.path.exists(host.known_hosts):
            try:
                # load_host_keys would make paramiko rewrite this file on save; read only.
                for entry_host, keys in paramiko.HostKeys(host.known_hosts).items():
                    for key_type, key in keys.items():
                        client.get_host_keys().add(entry_host, key_type, key)
            except (OSError, paramiko.SSHException) as exc:
                raise BackendError(
                    f"cannot read known_hosts file {host.known_hosts} for ssh host {name}: {exc}",
                    hint="fix the file or the ssh host's known_hosts setting",
                ) from None
        if host.accept_new_host_key:
            record = host.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
            client.set_missing_host_key_policy(hostkeys.AcceptNew(record))
        else:
            client.set_missing_host_key_policy(hostkeys.RejectUnknown())
        sock = self._jump_channel(name, host) if host.proxy_jump else None
        try:
            client.connect(
                hostname=host.hostname,
                port=host.port,
                username=host.user or None,
                key_filename=os.path.expanduser(host.key_file) if host.key_file else None,
                look_for_keys=host.key_file is None,
                allow_agent=host.key_file is None,
                timeout=host.connect_timeout_s,
                banner_timeout=host.connect_timeout_s,
                auth_timeout=host.connect_timeout_s,
                sock=sock,
                transport_factory=_fast_transport,
            )
        except Exception as exc:
            client.close()
            raise _translate(name, host, exc) from None
        transport = client.get_transport()
        if transport is not None and host.keepalive_s:
            transport.set_keepalive(host.keepalive_s)
        return client

    def _jump_channel(self, name: str, host: SSHHost) -> paramiko.Channel:
        if host.proxy_jump == name:
            raise BackendError(f"ssh host {name} jumps through itself", hint="fix proxy_jump")
        jump = self.client(host.proxy_jump)
        try:
            transport = jump.get_transport()
            assert transport is not None
            return transport.open_channel(
                "direct-tcpip", (host.hostname, host.port), ("127.0.0.1", 0),
                timeout=host.connect_timeout_s,
            )
        except Exception as exc:
            self.drop(host.proxy_jump)
            raise BackendError(
                f"ssh jump {host.proxy_jump} could not reach {describe(name, host)}: {exc}",
                hint="check the jump host can reach that address",
            ) from None

    # -- commands ----------------------------------------------------------------------

    def run(self, name: str, argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
        """Run one command (argument list, quoted with shlex.join) and collect its output.

        A connection found dead when the command starts is reopened once.
        """
        command = shlex.join(list(argv))
        for attempt in (1, 2):
            client = self.client(name)
            try:
                channel = client.get_transport().open_session(timeout=timeout)  # type: ignore[union-attr]
            except (paramiko.SSHException, OSError, EOFError, AttributeError) as exc:
                self.drop(name)
                if attempt == 2:
                    raise _translate(name, self.hosts[name], exc) from None
                continue
            try:
                return _collect(channel, command, timeout, name, argv)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self.drop(name)
                raise _translate(name, self.hosts[name], exc) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._closed = True
        for name in list(self._clients):
            self.drop(name)


class _Backoff:
    """Exponential backoff between reconnect attempts to one host (1 s doubling to 30 s),
    so a host that is down is not hammered by every poll, tail and tunnel at once."""

    FIRST_S = 1.0
    MAX_S = 30.0

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.delay = 0.0
        self.retry_at = 0.0
        self.last_error = ""
        self.last_hint = ""

    def remaining(self) -> float:
        return max(0.0, self.retry_at - self.clock())

    def failed(self, error: str, hint: str) -> None:
        self.delay = min(self.MAX_S, self.delay * 2 if self.delay else self.FIRST_S)
        self.retry_at = self.clock() + self.delay
        self.last_error, self.last_hint = error, hint

    def succeeded(self) -> None:
        self.delay, self.retry_at, self.last_error, self.last_hint = 0.0, 0.0, "", ""


PROBE_S = 0.5  # the TCP probe that lets a returning host skip the rest of its backoff


def _listening_now(host: SSHHost) -> bool:
    """During a backoff: does the host accept a TCP connection on its SSH port now? One
    connect, not a handshake; a host reached through a jump host is not probed."""
    if host.proxy_jump:
        return False
    try:
        with socket.create_connection((host.hostname, host.port), timeout=min(PROBE_S, host.connect_timeout_s)):
            return True
    except OSError:
        return False


# Ciphers tried first, when the server offers them: an AEAD cipher encrypts and
# authenticates in one pass (paramiko's default, aes-ctr with a separate HMAC-SHA2, makes
# every 32 KiB packet pay for two), which roughly doubles what a tunnel carries. The rest
# of paramiko's list follows unchanged, so a server without GCM connects as before.
_FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
# For a non-AEAD cipher: encrypt-then-MAC first (it is the sounder construction).
_FAST_DIGESTS = ("hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com")


def _fast_transport(sock, **kwargs) -> paramiko.Transport:
    """The pool's transports: paramiko's, with the faster algorithms preferred."""
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    options.ciphers = _preferred(options.ciphers, _FAST_CIPHERS)
    options.digests = _preferred(options.digests, _FAST_DIGESTS)
    return transport


def _preferred(offered: Sequence[str], first: Sequence[str]) -> tuple[str, ...]:
    """`offered` reordered so the available names of `first` lead (none added)."""
    lead = [name for name in first if name in offered]
    return (*lead, *(name for name in offered if name not in lead))


def _alive(client: paramiko.SSHClient) -> bool:
    transport = client.get_transport()
    return bool(transport and transport.is_active())


def _collect(
    channel: paramiko.Channel, command: str, timeout: float, name: str, argv: Sequence[str]
) -> CommandResult:
    """Read stdout and stderr together (so neither pipe can fill and stall the command)
    until the channel's EOF, then take the exit status.

    SSH may deliver data after the exit status, so "exit status ready and nothing
    buffered right now" is not the end: only EOF (or the channel closing) is.
    """
    out: list[bytes] = []
    err: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        channel.exec_command(command)
        channel.shutdown_write()
        while True:
            if channel.recv_ready():
                out.append(channel.recv(_READ_CHUNK))
            elif channel.recv_stderr_ready():
                err.append(channel.recv_stderr(_READ_CHUNK))
            elif channel.eof_received or channel.closed:
                break  # nothing buffered and nothing more will come
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BackendError(
                        f"{argv[0]} on ssh host {name} did not finish within {timeout:g}s",
                        hint="the host or its command is slow; raise the backend's timeout",
                        reachable=True,
                    )
                select.select([channel], [], [], min(remaining, 0.2))
        remaining = max(0.0, deadline - time.monotonic())
        if not channel.status_event.wait(remaining):
            raise BackendError(
                f"{argv[0]} on ssh host {name} closed its output but gave no exit status within {timeout:g}s",
                hint="the host or its command is slow; raise the backend's timeout",
                reachable=True,
            )
        rc = channel.recv_exit_status()
    finally:
        channel.close()
    return CommandResult(rc, b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"))


def _translate(name: str, host: SSHHost, exc: BaseException) -> BackendError:
    """Map a paramiko/socket failure to one operator-facing line and a hint."""
    where = describe(name, host)
    if isinstance(exc, BackendError):
        return exc
    from servedeck.backends.ssh.hostkeys import UnknownHostKey

    if isinstance(exc, UnknownHostKey):
        file_hint = host.known_hosts or "~/.ssh/known_hosts"
        return BackendError(
            f"ssh host {where} offered an unknown host key ({exc.key_type} {exc.fingerprint}); refused",
            hint=(
                f"verify it, then add it to {file_hint} (ssh-keyscan -p {host.port} {host.hostname}) "
                f"or set accept_new_host_key: true for ssh host {name}"
            ),
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return BackendError(
            f"ssh host {where} host key CHANGED (now {exc.key.get_name()} {exc.key.fingerprint}); refused",
            hint="if the host was reinstalled, remove its old entry from known_hosts; otherwise investigate",
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return BackendError(
            f"ssh key for {where} is encrypted", hint="use an unencrypted key or an ssh agent"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return BackendError(
            f"ssh login to {where} was refused ({exc})",
            hint="check the ssh host's user and key_file, and the server's authorized_keys",
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return BackendError(
            f"ssh host {where} did not answer within {host.connect_timeout_s:g}s",
            hint="check the host is up and the port is reachable",
        )
    if isinstance(exc, (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError)):
        return BackendError(
            f"ssh host {where} refused the connection",
            hint="check that sshd runs there and the port is right",
        )
    if isinstance(exc, socket.gaierror):
        return BackendError(
            f"ssh host {where}: cannot resolve {host.hostname}",
            hint="check the ssh host's hostname",
        )
    if isinstance(exc, (FileNotFoundError, PermissionError)) or "No such file" in str(exc):
        return BackendError(
            f"ssh key for {where} cannot be read: {getattr(exc, 'filename', None) or exc}",
            hint="check the ssh host's key_file",
        )
    text = str(exc) or type(exc).__name__
    return BackendError(
        f"ssh to {where} failed: {text}", hint="check the host is reachable and sshd runs there"
    )
