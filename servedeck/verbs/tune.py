"""`servedeck tune run|validate|plan|status|results|stop`: the autotuner's verbs.

Settings come from the `tuner:` section of servedeck's config (--config, $SERVEDECK_CONFIG,
default path; built-in defaults without one). Exit codes: 0 ok, 1 invalid/refused,
2 task or config error, 3 tuner not reachable.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_INVALID, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    tune = sub.add_parser("tune", parents=[parent], help="autotune SGLang server parameters (run, plan, status, results)")
    verbs = tune.add_subparsers(dest="tune_verb", metavar="ACTION", required=True)
    run = verbs.add_parser("run", parents=[parent], help="run a tuning task in the foreground")
    run.add_argument("task", metavar="TASK", help="task file (the real tool's JSON, or YAML)")
    run.add_argument("--mode", choices=["docker", "ome"], default="docker")
    run.add_argument("--resume", action="store_true", help="continue an interrupted tuning (finished experiments are kept)")
    run.add_argument("--fresh", action="store_true", help="start over even if an unfinished tuning exists")
    run.add_argument("--parallel", type=int, default=1, metavar="N", help="experiments at once (GPUs permitting)")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    v = verbs.add_parser("validate", parents=[parent], help="check a task file; FILE:LINE:COL per problem")
    v.add_argument("task", metavar="TASK")
    plan = verbs.add_parser("plan", parents=[parent], help="the experiments a run would start, in order")
    plan.add_argument("task", metavar="TASK")
    plan.add_argument("--json", action="store_true")
    st = verbs.add_parser("status", parents=[parent], help="progress of the running (else the last) tuning")
    st.add_argument("--json", action="store_true")
    res = verbs.add_parser("results", parents=[parent], help="the results file of a task (default: the last one)")
    res.add_argument("task", metavar="TASK", nargs="?", help="task name or task file")
    res.add_argument("--json", action="store_true")
    verbs.add_parser("stop", parents=[parent], help="stop the running tuner (the rest can be resumed)")
    tune.set_defaults(handler=main)


def _settings(args):
    from servedeck.config.errors import ConfigError
    from servedeck.config.loader import resolve_path
    from servedeck.tuner import settings

    try:
        return settings.load(resolve_path(getattr(args, "config", None)))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _config_readonly(args) -> bool:
    """`readonly: true` at the top of servedeck's config refuses tune run/stop too."""
    import yaml

    from servedeck.config.loader import resolve_path

    path = resolve_path(getattr(args, "config", None))
    try:
        top = yaml.safe_load(path.read_text(encoding="utf-8")) if path else None
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(top, dict) and top.get("readonly") is True


def _task(path: str):
    from servedeck.config.errors import ConfigError
    from servedeck.tuner.task import load_task

    try:
        return load_task(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def main(args) -> int:
    settings = _settings(args)
    if settings is None:
        return EXIT_CONFIG
    verb = args.tune_verb
    if verb in ("run", "stop") and (getattr(args, "readonly", False) or _config_readonly(args)):
        print(f"error: `tune {verb}` refused: read-only mode", file=sys.stderr)
        from servedeck.verbs.common import EXIT_REFUSED

        return EXIT_REFUSED
    if verb in ("run", "validate", "plan"):
        task = _task(args.task)
        if task is None:
            return EXIT_CONFIG
        if verb == "validate":
            from servedeck.tuner import strategies

            print(f"ok: {task.task_name}: {task.optimization.kind}, {strategies.make(task).budget} experiment(s) at most")
            return EXIT_OK
        if verb == "plan":
            return _plan(task, settings, args.json)
        return _run(task, settings, args)
    if verb == "status":
        return _status(settings, args.json)
    if verb == "results":
        return _results(settings, args.task, args.json)
    return _stop(settings)


def _plan(task, settings, as_json: bool) -> int:
    from servedeck.tuner import strategies
    from servedeck.tuner.docker_deploy import container_name, flags, image_for

    strategy = strategies.make(task)
    if task.optimization.kind == "bayesian":
        rows = [{"experiment_id": i + 1, "parameters": "chosen by the Bayesian study", "container": container_name(settings, task, i + 1)}
                for i in range(strategy.budget)]
    else:
        rows = [{"experiment_id": i + 1, "parameters": p, "container": container_name(settings, task, i + 1),
                 "flags": flags(task, p)} for i, p in enumerate(strategy.plan)]
    doc = {"task_name": task.task_name, "strategy": task.optimization.kind, "image": image_for(settings, task),
           "experiments": rows}
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"{task.task_name}: {doc['strategy']}, {len(rows)} experiment(s), image {doc['image']}")
        for row in rows:
            shown = " ".join(row["flags"]) if "flags" in row else row["parameters"]
            print(f"  exp{row['experiment_id']:<4} {row['container']:<40} {shown}")
    return EXIT_OK


def _run(task, settings, args) -> int:
    from servedeck.orchestrator.state import StateError
    from servedeck.tuner.service import AlreadyRunning, Refused, Tuner

    if args.parallel < 1:
        print("error: --parallel must be >= 1", file=sys.stderr)
        return EXIT_INVALID
    try:
        deployer = _deployer(settings, args.mode, task)
    except Exception as exc:
        print(f"error: cannot reach the {args.mode} backend: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    echo = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    tuner = Tuner(task, settings, deployer, task_file=args.task, mode=args.mode, parallel=args.parallel,
                  resume=args.resume, fresh=args.fresh, echo=echo)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: tuner.request_stop())
    try:
        state = tuner.run()
    except (AlreadyRunning, Refused, StateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted: `servedeck tune run --resume` continues", file=sys.stderr)
        return EXIT_INVALID
    best = state.best()
    if best is not None:
        print(f"best: exp{best.id} {json.dumps(best.parameters)} score {best.score:.4g}")
    else:
        print("no experiment succeeded")
    return EXIT_OK if state.status == "finished" else EXIT_INVALID


def _deployer(settings, mode: str, task):
    if mode == "ome":
        from servedeck.tuner.ome_deploy import OMEDeployer

        deployer = OMEDeployer(settings, task)
        deployer.ping()
        return deployer
    from servedeck.tuner.docker_deploy import DockerDeployer

    deployer = DockerDeployer(settings)
    deployer.client.ping()
    if settings.build_standin_image and settings.image:
        from servedeck.lab.standin_sglang_image import ensure_image

        ensure_image(deployer.client, settings.image)
    return deployer


def _live(settings):
    from servedeck.orchestrator.control import ControlError, request

    try:
        reply = request(settings.socket_path(), {"cmd": "status"}, timeout=5)
    except ControlError:
        return None
    return reply.get("status") if reply.get("ok") else None


def _status(settings, as_json: bool) -> int:
    from servedeck.tuner import results
    from servedeck.tuner.service import state_file
    from servedeck.tuner.state import TunerStore

    doc = _live(settings)
    if doc is None:
        current = settings.state_path() / "current"
        if not current.exists():
            print("no tuning has run with this state dir", file=sys.stderr)
            return EXIT_UNREACHABLE
        state = TunerStore(state_file(settings, current.read_text().strip())).load()
        if state is None:
            print("no tuning state found", file=sys.stderr)
            return EXIT_UNREACHABLE
        doc = results.status_doc(state, running=False)
    print(json.dumps(doc, indent=2) if as_json else results.render_text(doc))
    return EXIT_OK


def _results(settings, task_arg: str | None, as_json: bool) -> int:
    from pathlib import Path

    from servedeck.tuner.results import results_path

    name = task_arg
    if name and (name.endswith((".json", ".yaml", ".yml")) and Path(name).exists()):
        task = _task(name)
        if task is None:
            return EXIT_CONFIG
        name = task.task_name
    if not name:
        current = settings.state_path() / "current"
        name = current.read_text().strip() if current.exists() else None
    if not name:
        print("error: which task? (none has run with this state dir)", file=sys.stderr)
        return EXIT_INVALID
    path = results_path(settings.results_path(), name)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if as_json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    best = doc.get("best_result")
    print(f"{doc['task_name']}: {doc['successful_experiments']}/{doc['total_experiments']} succeeded, "
          f"{doc['strategy']}, runner {doc.get('benchmark_runner')}, {doc['elapsed_time']:.0f}s  ({path})")
    if best:
        print(f"best: exp{best['experiment_id']} {json.dumps(best['parameters'])} score {best['objective_score']:.4g}")
    ranked = sorted(doc["all_results"], key=lambda r: (r["objective_score"] is None, r["objective_score"] or 0))
    for r in ranked:
        score = "-" if r["objective_score"] is None else f"{r['objective_score']:.4g}"
        print(f"  exp{r['experiment_id']:<4} {r['status']:<8} {score:>10}  {json.dumps(r['parameters'])}"
              + (f"  ({r['error'][:80]})" if r.get("error") else ""))
    return EXIT_OK


def _stop(settings) -> int:
    from servedeck.orchestrator.control import ControlError, request

    try:
        reply = request(settings.socket_path(), {"cmd": "stop"})
    except ControlError as exc:
        print(f"error: no tuner running ({exc})", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(reply.get("message", ""))
    return EXIT_OK if reply.get("ok") else EXIT_INVALID
