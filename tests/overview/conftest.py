"""The overview's lab tests use the shared SSH fixtures (a private sshd a test may stop)."""

from ssh_support import own_sshd  # noqa: F401  (fixture)
