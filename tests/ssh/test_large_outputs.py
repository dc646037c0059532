"""Large command outputs over the lab's real sshd come back whole, every time.

SSH may deliver data after the exit status; a reader that stops at the exit status drops
the tail while the command still reports success (11 of 60 outputs of 1-5 MB were short
that way). Each output here is compared byte for byte with the same command run locally.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import time

import pytest

pytestmark = pytest.mark.integration

SIZES = [150_000 + 97_531 * i for i in range(6)]  # `seq` up to these numbers: 1 to 5 MB


def _expected(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def _spin(until: float) -> None:
    while time.monotonic() < until:
        pass


def _check_many(pool, rounds: int) -> list[str]:
    short = []
    for i in range(rounds):
        n = SIZES[i % len(SIZES)]
        result = pool.run("lab", ["sh", "-c", f"seq 1 {n}; seq 1 {n // 7} >&2"], timeout=60)
        assert result.rc == 0, result.stderr[-200:]
        if result.stdout != _expected(["seq", "1", str(n)]) or result.stderr != _expected(["seq", "1", str(n // 7)]):
            short.append(f"round {i}: {len(result.stdout)} + {len(result.stderr)} bytes for seq {n}")
    return short


def test_large_outputs_are_complete_at_rest(pool):
    assert _check_many(pool, 20) == []


def test_large_outputs_are_complete_under_cpu_load(pool):
    until = time.monotonic() + 120
    spinners = [multiprocessing.Process(target=_spin, args=(until,), daemon=True) for _ in range(3)]
    for s in spinners:
        s.start()
    try:
        assert _check_many(pool, 20) == []
    finally:
        for s in spinners:
            s.terminate()
            s.join(5)

