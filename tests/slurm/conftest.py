"""The shared SSH/SLURM fixtures (tests/ssh_support.py)."""

from ssh_support import lab_ssh_host, own_sshd, pool, slurm, ssh_pool  # noqa: F401  (fixtures)
