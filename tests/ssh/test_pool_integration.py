"""The SSH pool against the lab's real sshd: host keys, sharing, reconnects."""

from __future__ import annotations

import subprocess

import pytest
from servedeck.backends.base import BackendError
from servedeck.backends.ssh.pool import SSHPool

pytestmark = pytest.mark.integration


def test_ssh_known_key_accepted_and_connection_shared(ssh_pool):
    first = ssh_pool.run("lab", ["printf", "%s", "a b;$(c)"], timeout=10)
    assert (first.rc, first.stdout) == (0, "a b;$(c)")
    client = ssh_pool.client("lab")
    assert ssh_pool.run("lab", ["sh", "-c", "exit 3"], timeout=10).rc == 3
    assert ssh_pool.client("lab") is client  # one connection per host


def test_ssh_reconnects_after_drop(ssh_pool):
    ssh_pool.run("lab", ["true"], timeout=10)
    ssh_pool.client("lab").get_transport().close()  # the connection drops
    assert ssh_pool.run("lab", ["echo", "back"], timeout=10).stdout == "back\n"


def test_ssh_unknown_host_key_refused_with_how_to_accept(lab_ssh_host, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/known_hosts either
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    pool = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(empty)})})
    with pytest.raises(BackendError) as err:
        pool.run("lab", ["true"], timeout=10)
    assert "unknown host key" in err.value.message and "SHA256:" in err.value.message
    assert "accept_new_host_key: true" in err.value.hint and str(empty) in err.value.hint


def test_ssh_accept_new_records_key_then_changed_key_refused(lab_ssh_host, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    record = tmp_path / "kh"
    accepting = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(record), "accept_new_host_key": True})})
    assert accepting.run("lab", ["true"], timeout=10).rc == 0
    accepting.close()
    strict = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(record)})})
    assert strict.run("lab", ["true"], timeout=10).rc == 0  # the recorded key is trusted now
    strict.close()
    host_entry, key_type, _ = record.read_text().split()[:3]
    forged = tmp_path / "forged"
    keygen_type = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key_type, "ecdsa")
    subprocess.run(["ssh-keygen", "-q", "-t", keygen_type, "-N", "", "-f", str(forged)], check=True)
    record.write_text(f"{host_entry} {forged.with_suffix('.pub').read_text().split()[0]} "
                      f"{forged.with_suffix('.pub').read_text().split()[1]}\n")
    changed = SSHPool({"lab": lab_ssh_host.model_copy(update={"known_hosts": str(record), "accept_new_host_key": True})})
    with pytest.raises(BackendError) as err:
        changed.run("lab", ["true"], timeout=10)
    assert "CHANGED" in err.value.message

