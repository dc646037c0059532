"""`ssh://` Docker hosts over servedeck's SSH pool instead of docker-py's own paramiko client.

docker-py's ssh transport connects without a timeout (a host that is off the network
hangs a poll for minutes), reads keys and host keys only from ~/.ssh, and keeps a
transport it never notices is dead. Here each HTTP connection is one `docker system
dial-stdio` session on the pool's shared connection to that host: host keys are
verified the pool's way (known_hosts files, an unknown key refused unless the ssh host
opts in), the ssh host's key_file, connect timeout and backoff apply, and a host that
went away is reconnected by the next use. The url names the host as `ssh://[USER@]HOST[:PORT]`
and is matched against the config's ssh: section (hostname, port, user) or an ssh host's
name (`ssh://NAME`); a host not configured there gets a pool of its own with the defaults
(~/.ssh/known_hosts, unknown keys refused).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from servedeck.backends.base import BackendError
from servedeck.backends.lazy import lazy

docker = lazy("docker")

DIAL = "docker system dial-stdio"
# Sessions one client keeps open on the shared connection at most (more requests wait for
# one): sshd allows 10 per connection by default (MaxSessions), shared with the events
# stream, log follows, SLURM commands and log tails of the same host.
SESSIONS = 4


def ssh_target(url: str, shared: Any) -> tuple[Any, str, bool]:
    """(pool, ssh host name, own pool?) for an ssh:// url; raises BackendError on a bad url."""
    from servedeck.backends.ssh.pool import SSHPool
    from servedeck.config.model import SSHHost

    parsed = urllib.parse.urlparse(url)
    try:
        hostname, port, user = parsed.hostname, parsed.port, parsed.username
    except ValueError:
        hostname = None
    if not hostname:
        raise BackendError(f"invalid Docker Engine url {url}", hint="use ssh://USER@HOST[:PORT]")
    hosts = dict(getattr(shared, "hosts", {}) or {})
    if hostname in hosts and user is None and port is None:
        return shared, hostname, False
    for name, host in hosts.items():
        if host.hostname == hostname and host.port == (port or 22) and (user is None or host.user == user):
            return shared, name, False
    name = parsed.netloc
    return SSHPool({name: SSHHost(hostname=hostname, port=port or 22, user=user)}), name, True


def api_client(pool: Any, name: str, timeout: float | None) -> Any:
    """A docker-py APIClient whose requests travel over `pool`'s connection to `name`."""
    from docker.constants import DEFAULT_DOCKER_API_VERSION

    # use_ssh_client: docker-py's adapter then opens nothing itself; ours replaces it.
    api = docker.APIClient(base_url=f"ssh://{name}", version=DEFAULT_DOCKER_API_VERSION, timeout=timeout,
                           use_ssh_client=True)
    adapter = _adapter_class()(pool, name, timeout)
    api._custom_adapter = adapter
    api.mount("http+docker://ssh", adapter)
    try:
        api._version = api.version(api_version=False)["ApiVersion"]  # as docker-py's "auto" does
    except BaseException:
        api.close()
        raise
    return api


_ADAPTER: type | None = None


def _adapter_class() -> type:
    """Built on first use: its bases come from docker-py, loaded after the first frame."""
    global _ADAPTER
    if _ADAPTER is not None:
        return _ADAPTER
    import urllib3
    from docker.transport.basehttpadapter import BaseHTTPAdapter
    import paramiko

    class Connection(urllib3.connection.HTTPConnection):
        def __init__(self, pool: Any, name: str, timeout: float | None):
            super().__init__("localhost", timeout=timeout)
            self.ssh_pool, self.ssh_name, self.channel_timeout = pool, name, timeout

        def connect(self) -> None:
            transport = self.ssh_pool.transport(self.ssh_name)  # BackendError when the host is away
            try:
                channel = transport.open_session(timeout=self.channel_timeout or 10.0)
                channel.settimeout(self.channel_timeout)
                channel.exec_command(DIAL)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.ssh_pool.drop(self.ssh_name)  # a dead connection: the next use reconnects
                raise ConnectionError(f"ssh session to {self.ssh_name} failed: {exc or type(exc).__name__}") from None
            self.sock = channel

    class ConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
        scheme = "ssh"

        def __init__(self, pool: Any, name: str, timeout: float | None, maxsize: int):
            super().__init__("localhost", timeout=timeout, maxsize=maxsize, block=True)
            self.ssh_pool, self.ssh_name, self.conn_timeout = pool, name, timeout

        def _new_conn(self):
            return Connection(self.ssh_pool, self.ssh_name, self.conn_timeout)

    class PoolAdapter(BaseHTTPAdapter):
        """One connection pool for every request: docker-py's keys its pools by the whole
        url, so each container's stats url would keep sessions of its own open."""

        def __init__(self, pool: Any, name: str, timeout: float | None, max_pool_size: int = SESSIONS):
            self.ssh_pool, self.ssh_name, self.timeout, self.max_pool_size = pool, name, timeout, max_pool_size
            self.connections = ConnectionPool(pool, name, timeout, max_pool_size)
            super().__init__()

        def get_connection(self, url, proxies=None):
            return self.connections

        def close(self):
            super().close()
            self.connections.close()

    _ADAPTER = PoolAdapter
    return _ADAPTER
