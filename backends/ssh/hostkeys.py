"""Host-key policies for the SSH pool: unknown keys refused (the default) or recorded on
first use. A module of its own because the classes derive from paramiko's, and the pool
imports paramiko only when it first connects (after the cockpit's first frame)."""

from __future__ import annotations

import os

import paramiko


class UnknownHostKey(paramiko.SSHException):
    """The server offered a key that no known_hosts file lists."""

    def __init__(self, host: str, key: paramiko.PKey):
        self.host = host
        self.key_type = key.get_name()
        self.fingerprint = key.fingerprint  # "SHA256:..." as ssh prints it
        super().__init__(f"unknown host key {self.key_type} {self.fingerprint} for {host}")


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    """The default: an unknown host key is an error that says how to accept it."""

    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(hostname, key)


class AcceptNew(paramiko.MissingHostKeyPolicy):
    """Opt-in trust on first use: accept a never-seen key and record it (a changed key is
    still refused, by paramiko, before any policy is asked)."""

    def __init__(self, record_to: str | None):
        self.record_to = record_to

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        if self.record_to:
            directory = os.path.dirname(self.record_to)
            if directory:
                os.makedirs(directory, exist_ok=True)
            with open(self.record_to, "a", encoding="utf-8") as fh:
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
