"""`servedeck cancel JOB [--cluster NAME] [--yes]`: cancel a SLURM job (scancel)."""

from __future__ import annotations

import argparse
import sys

from servedeck.verbs.common import (EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, add_common, confirmed,
                                  is_readonly, load_fleet, runners_of)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("cancel", parents=[parent], help="cancel a SLURM job (asks first unless --yes)")
    p.add_argument("job", metavar="JOB", help="SLURM job id, e.g. 12345 or 12345_7")
    p.add_argument("--cluster", help="the slurm target the job belongs to (default: the one listing it)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_common(p)
    p.set_defaults(handler=cmd_cancel)


def cmd_cancel(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    try:
        if is_readonly(args, loaded):
            print(f"refused: read-only mode; job {args.job} not cancelled", file=sys.stderr)
            return EXIT_REFUSED
        runners = runners_of(fleet, "slurm", args.cluster)
        if not runners:
            print("no slurm target is configured" if not args.cluster else f"no slurm target named {args.cluster}",
                  file=sys.stderr)
            return EXIT_CONFIG
        target, row = None, None
        for runner in runners:
            snap = runner.poll_once(frozenset({"jobs"})) or runner.snapshot
            row = next((r for r in snap.panes.get("jobs", ()) if r.job_id == args.job), None)
            if row is not None:
                target = runner
                break
        if target is None:
            if len(runners) > 1:
                print(f"job {args.job} is in no configured cluster's queue; name one with --cluster", file=sys.stderr)
                return EXIT_FAILED
            target = runners[0]  # one cluster: let scancel say what it thinks of the id
        label = f"job {args.job}" + (f" ({row.name})" if row is not None and row.name else "") + f" on {target.name}"
        if not confirmed(f"cancel {label}?", args.yes):
            return EXIT_REFUSED
        result = target.backend.cancel(args.job, row.name if row is not None else "")
    finally:
        fleet.close()
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED
