"""Failure policies: exponential backoff with jitter, node blacklist, circuit breaker.

Pure functions over a DeploymentState and the clock, so the reconciler's decisions stay
testable without services. Jitter (±20 %) keeps many deployments from retrying in step.
"""

from __future__ import annotations

import random
from typing import Callable

from servedeck.orchestrator.config import PolicySettings
from servedeck.orchestrator.state import DeploymentState

JITTER = 0.2


def backoff(base: float, attempt: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """base * 2^(attempt-1), capped, ±20 % jitter; 0 for attempt <= 0 or base 0."""
    if attempt <= 0 or base <= 0:
        return 0.0
    delay = min(cap, base * (2 ** min(attempt - 1, 30))) if cap > 0 else base * (2 ** min(attempt - 1, 30))
    return max(0.0, delay * (1 + JITTER * (2 * rand() - 1)))


def record_failure(dep: DeploymentState, policy: PolicySettings, now: float, reason: str,
                   rand: Callable[[], float] = random.random) -> bool:
    """A worker failed: count it, push the next submit out, maybe open the breaker.
    Returns True when this failure opened the circuit breaker."""
    dep.failures += 1
    dep.restarts[reason] = dep.restarts.get(reason, 0) + 1
    dep.next_submit_at = max(dep.next_submit_at,
                             now + backoff(policy.restart_backoff_s, dep.failures - 1, policy.max_backoff_s, rand))
    if dep.failures >= policy.circuit_breaker_failures and dep.breaker_open_until <= now:
        dep.breaker_open_until = now + policy.circuit_breaker_cooldown_s
        return True
    return False


def record_success(dep: DeploymentState) -> None:
    """A worker became ready: failures are forgotten, the breaker closes."""
    dep.failures = 0
    dep.next_submit_at = 0.0
    dep.breaker_open_until = 0.0


def may_submit(dep: DeploymentState, now: float) -> tuple[bool, str]:
    if dep.paused:
        return False, "paused"
    if dep.breaker_open_until > now:
        return False, "circuit breaker open"
    if dep.next_submit_at > now:
        return False, "backing off"
    if dep.error_backoff_until > now:
        return False, "backing off after SLURM/router errors"
    return True, ""


def breaker_state(dep: DeploymentState, policy: PolicySettings, now: float) -> str:
    if dep.breaker_open_until > now:
        return "open"
    if dep.failures >= policy.circuit_breaker_failures:
        return "half-open"
    return "closed"


def blacklist(dep: DeploymentState, node: str, policy: PolicySettings, now: float) -> None:
    if node and policy.node_blacklist_cooldown_s > 0:
        dep.blacklist[node] = now + policy.node_blacklist_cooldown_s
        dep.node_boot_failures.pop(node, None)


def boot_failure(dep: DeploymentState, node: str, policy: PolicySettings, now: float) -> bool:
    """Count a boot failure on `node`; blacklist it after enough. True when blacklisted."""
    if not node:
        return False
    count = dep.node_boot_failures.get(node, 0) + 1
    dep.node_boot_failures[node] = count
    if count >= policy.boot_failures_to_blacklist:
        blacklist(dep, node, policy, now)
        return True
    return False


def excluded_nodes(dep: DeploymentState, now: float) -> list[str]:
    """Blacklisted nodes still cooling down; expired entries are dropped."""
    for node in [n for n, until in dep.blacklist.items() if until <= now]:
        del dep.blacklist[node]
    return sorted(dep.blacklist)


def error_backoff(dep: DeploymentState, now: float, rand: Callable[[], float] = random.random) -> float:
    """A SLURM or router call failed: wait before the deployment's next pass."""
    dep.error_count += 1
    delay = backoff(1.0, dep.error_count, 60.0, rand)
    dep.error_backoff_until = now + delay
    return delay


def error_cleared(dep: DeploymentState) -> None:
    dep.error_count = 0
    dep.error_backoff_until = 0.0
