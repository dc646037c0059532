"""Which SSH host an `ssh://` Docker url travels over: a configured ssh host matching its
address (or named by it), else a pool of its own with the defaults (host keys verified)."""

from __future__ import annotations

import pytest

from servedeck.backends.base import BackendError
from servedeck.backends.docker.sshtransport import ssh_target
from servedeck.backends.ssh.pool import SSHPool
from servedeck.config.model import SSHHost


@pytest.fixture
def shared():
    pool = SSHPool({"gpu": SSHHost(hostname="10.0.0.5", user="me", key_file="/k"),
                    "other": SSHHost(hostname="10.0.0.5", port=2222, user="root")})
    yield pool
    pool.close()


@pytest.mark.parametrize("url, name", [
    ("ssh://me@10.0.0.5", "gpu"), ("ssh://10.0.0.5", "gpu"), ("ssh://root@10.0.0.5:2222", "other"),
    ("ssh://gpu", "gpu"),
])
def test_a_configured_ssh_host_is_used(shared, url, name):
    assert ssh_target(url, shared) == (shared, name, False)


def test_an_unconfigured_host_gets_a_pool_of_its_own_that_refuses_unknown_keys(shared):
    pool, name, own = ssh_target("ssh://root@10.0.0.5", shared)  # user differs from gpu's
    assert own and pool is not shared and name == "root@10.0.0.5"
    host = pool.host(name)
    assert (host.hostname, host.port, host.user, host.accept_new_host_key) == ("10.0.0.5", 22, "root", False)
    pool.close()
    assert ssh_target("ssh://me@box", None)[2]


@pytest.mark.parametrize("url", ["ssh://", "ssh://me@box:notaport"])
def test_a_bad_url_is_one_clear_error(url):
    with pytest.raises(BackendError, match="invalid Docker Engine url"):
        ssh_target(url, None)
