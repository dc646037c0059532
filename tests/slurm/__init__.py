"""Tests of backends/slurm."""
