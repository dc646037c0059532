"""`servedeck drain WORKER_OR_JOB [--yes] [--grace S]`: remove a worker from its router,
wait the grace period, cancel its SLURM job and confirm it ended, printing each step."""

from __future__ import annotations

import argparse
import sys

from servedeck.verbs.common import (EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, add_common, confirmed,
                                  is_readonly, load_fleet)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("drain", parents=[parent],
                       help="router remove -> grace period -> cancel the SLURM job (asks first unless --yes)")
    p.add_argument("target", metavar="WORKER_OR_JOB", help="a SLURM job id, or a worker URL / router worker id")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--grace", type=float, default=None, metavar="S",
                   help="seconds between router removal and cancel (default: the router's deregister_grace_s)")
    p.add_argument("--confirm-timeout", type=float, default=60.0, metavar="S",
                   help="seconds to wait for the job to end after scancel (default 60)")
    add_common(p)
    p.set_defaults(handler=cmd_drain)


def cmd_drain(args) -> int:
    from servedeck.backends.router.drain import DrainError, plan_for, run_drain
    from servedeck.backends.router.match import board_for

    if args.grace is not None and args.grace < 0:
        print("--grace must be 0 or more seconds", file=sys.stderr)
        return EXIT_CONFIG
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    try:
        if is_readonly(args, loaded):
            print(f"refused: read-only mode; {args.target} not drained", file=sys.stderr)
            return EXIT_REFUSED
        snaps = fleet.poll_all({"jobs", "workers", "tunnels"})
        try:
            plan = plan_for(args.target, board_for(fleet.context))
        except DrainError as exc:
            down = [f"{s.backend}: {s.state.message}" for s in snaps.values()
                    if s.kind in ("slurm", "router") and s.state.health.value == "down"]
            print(f"cannot drain: {exc}" + (f" (down: {'; '.join(down)})" if down else ""), file=sys.stderr)
            return EXIT_FAILED
        grace = args.grace
        if grace is None:
            source = plan.router or plan.slurm
            grace = getattr(source.settings, "deregister_grace_s", 10.0)
        print(f"drain plan: {plan.describe()}; grace {grace:g}s")
        if not confirmed(f"drain {plan.describe()}?", args.yes):
            return EXIT_REFUSED
        last = None
        try:
            for event in run_drain(plan, grace, confirm_timeout_s=args.confirm_timeout):
                print(f"{event.step:<8} {event.status:<8} {event.text}", flush=True)
                last = event
        except KeyboardInterrupt:
            print("drain interrupted", file=sys.stderr)
            return EXIT_FAILED
    finally:
        fleet.close()
    return EXIT_OK if last is not None and last.status == "ok" else EXIT_FAILED
