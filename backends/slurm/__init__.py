"""SLURM: jobs and nodes through the CLI (local or over SSH) or slurmrestd."""
