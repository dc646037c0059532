"""`servedeck jobs [--json]`, `job`, `nodes`, `submit`: the SLURM queues of every configured cluster."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from servedeck.verbs.common import (
    EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, add_common, is_readonly, load_fleet, print_table, row_dict,
    runners_of,
)

SORT_KEYS = ("job_id", "name", "user", "state", "partition", "node", "elapsed_s", "time_left_s", "gpus")


# -- jobs --------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("jobs", parents=[parent], help="list SLURM jobs of every configured cluster")
    p.add_argument("--json", action="store_true", help="print a JSON list of jobs")
    p.add_argument("--cluster", help="only this slurm target")
    p.add_argument("--sort", choices=SORT_KEYS, default="job_id", help="sort key (default: job_id)")
    p.add_argument("--reverse", action="store_true", help="sort descending")
    p.set_defaults(handler=cmd_jobs)
    show = sub.add_parser("job", parents=[parent], help="details of one SLURM job (scontrol show job)")
    show.add_argument("job", metavar="JOB")
    show.add_argument("--cluster", help="the slurm target (default: the first configured)")
    show.set_defaults(handler=cmd_job)
    nodes = sub.add_parser("nodes", parents=[parent], help="SLURM nodes of every configured cluster (sinfo)")
    nodes.add_argument("--cluster", help="only this slurm target")
    nodes.set_defaults(handler=cmd_nodes)
    submit = sub.add_parser("submit", parents=[parent], help="submit a batch script (sbatch) on a cluster")
    submit.add_argument("script", metavar="SCRIPT", help="path of the script where SLURM runs (over ssh: remote)")
    submit.add_argument("--cluster", help="the slurm target (default: the only one configured)")
    add_common(submit)
    submit.set_defaults(handler=cmd_submit)


def _sort_value(row: dict[str, Any], key: str):
    value = row.get(key)
    if key == "job_id":
        head = str(value).split("_")[0]
        return (0, int(head), str(value)) if head.isdigit() else (1, 0, str(value))
    return (value is None, value if value is not None else 0) if key in ("elapsed_s", "time_left_s", "gpus") \
        else (False, str(value or ""))


def cmd_jobs(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    try:
        runners = runners_of(fleet, "slurm", args.cluster)
        if not runners:
            print(f"no slurm target{' named ' + args.cluster if args.cluster else ''} is configured", file=sys.stderr)
            return EXIT_CONFIG
        rows, failed = [], []
        for runner in runners:
            snap = runner.poll_once(frozenset({"jobs"})) or runner.snapshot
            if "jobs" not in snap.panes:
                failed.append(f"{runner.name}: {snap.state.message}" + (f" ({snap.state.hint})" if snap.state.hint else ""))
            rows += [row_dict(runner.name, r) for r in snap.panes.get("jobs", ())]
    finally:
        fleet.close()
    rows.sort(key=lambda r: _sort_value(r, args.sort), reverse=args.reverse)
    if args.json:
        from servedeck.secrets import redact

        print(redact(json.dumps(rows, indent=2)))
    else:
        print_table(rows, ["cluster", "job_id", "name", "user", "state", "partition", "node",
                           "elapsed_s", "time_left_s", "reason", "gpus"])
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _one_cluster(args, fleet):
    runners = runners_of(fleet, "slurm", args.cluster)
    if not runners:
        print(f"no slurm target{' named ' + args.cluster if args.cluster else ''} is configured", file=sys.stderr)
        return None
    if len(runners) > 1 and not args.cluster:
        print(f"several clusters configured ({', '.join(r.name for r in runners)}): choose one with --cluster",
              file=sys.stderr)
        return None
    return runners[0]


def _show(args, fn) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    try:
        return fn(loaded, fleet)
    finally:
        fleet.close()


def cmd_job(args) -> int:
    from servedeck.backends.base import BackendError
    from servedeck.text import strip_control

    def go(loaded, fleet) -> int:
        runner = _one_cluster(args, fleet)
        if runner is None:
            return EXIT_CONFIG
        try:
            print(strip_control(runner.backend.show_job(args.job)), end="")
        except BackendError as exc:
            print(exc.message, file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    return _show(args, go)


def cmd_nodes(args) -> int:
    from servedeck.text import strip_control

    def go(loaded, fleet) -> int:
        status = EXIT_OK
        for runner in runners_of(fleet, "slurm", args.cluster):
            result = runner.backend.nodes()
            if result.ok:
                print(f"# {runner.name}")
                print(strip_control(result.follow_up.text), end="")
            else:
                print(f"{runner.name}: {result.message}", file=sys.stderr)
                status = EXIT_FAILED
        return status
    return _show(args, go)


def cmd_submit(args) -> int:
    def go(loaded, fleet) -> int:
        if is_readonly(args, loaded):
            print(f"refused: read-only mode; {args.script} not submitted", file=sys.stderr)
            return EXIT_REFUSED
        runner = _one_cluster(args, fleet)
        if runner is None:
            return EXIT_CONFIG
        result = runner.backend.submit(args.script)
        print(result.message, file=sys.stdout if result.ok else sys.stderr)
        return EXIT_OK if result.ok else EXIT_FAILED
    return _show(args, go)
