"""`servedeck sllm status [--json] | register MODEL [...] | delete MODEL | chat MODEL TEXT`:
the ServerlessLLM v1-beta head: its health, models (joined to their Pylet instances) and
nodes; registering and deleting models; one test request with its cold-start timeline.

`chat` exits 1 when the answer is an error, including one the head returns with HTTP 200.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from servedeck.verbs.common import (EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, add_common,
                                    confirmed, is_readonly, load_fleet, print_table, runners_of)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sllm", parents=[parent], help="the ServerlessLLM head: models, nodes, register, chat")
    verbs = p.add_subparsers(dest="sllm_verb", metavar="ACTION", required=True)
    st = verbs.add_parser("status", parents=[parent], help="health, models (with Pylet instances) and nodes")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(handler=cmd_status)
    reg = verbs.add_parser("register", parents=[parent], help="register a model (POST /register)")
    reg.add_argument("model", metavar="MODEL", help="e.g. facebook/opt-125m")
    reg.add_argument("--backend", default="vllm")
    reg.add_argument("--min-instances", type=int, default=0)
    reg.add_argument("--max-instances", type=int, default=1)
    reg.add_argument("--keep-alive", type=int, default=0, metavar="SECONDS")
    reg.add_argument("--tensor-parallel-size", "--tp", type=int, default=1)
    add_common(reg)
    reg.set_defaults(handler=cmd_register)
    de = verbs.add_parser("delete", parents=[parent], help="delete a model (asks first)")
    de.add_argument("model", metavar="MODEL", help="the model id, e.g. facebook/opt-125m:vllm")
    de.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_common(de)
    de.set_defaults(handler=cmd_delete)
    chat = verbs.add_parser("chat", parents=[parent], help="one chat completion, with its cold-start timeline")
    chat.add_argument("model", metavar="MODEL", help="the model id, e.g. facebook/opt-125m:vllm")
    chat.add_argument("text", metavar="TEXT")
    chat.add_argument("--max-tokens", type=int, default=16)
    chat.add_argument("--json", action="store_true", help="print the outcome as JSON")
    chat.set_defaults(handler=cmd_chat)
    for q in (p, *verbs.choices.values()):
        q.add_argument("--sllm", default=argparse.SUPPRESS, help="the sllm target (default: the only one)")


def _flat(rows: list[dict]) -> list[dict]:
    """For the plain table: lists as "a, b", `*_at` times as "12s ago"."""
    import time

    def cell(key, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(map(str, value))
        if key.endswith("_at") and isinstance(value, (int, float)):
            return f"{max(0, int(time.time() - value))}s ago"
        return value
    return [{k: cell(k, v) for k, v in r.items()} for r in rows]


def _runners(args, fleet) -> list:
    return runners_of(fleet, "sllm", getattr(args, "sllm", None))


def _one(args, fleet):
    runners = _runners(args, fleet)
    if len(runners) != 1:
        print("no sllm target is configured" if not runners else "several sllm targets: choose one with --sllm",
              file=sys.stderr)
        return None
    return runners[0]


def cmd_status(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    doc, code = [], EXIT_OK
    try:
        for runner in _runners(args, fleet):
            snap = runner.poll_once(frozenset({"sllm_heads", "sllm_models", "sllm_nodes"})) or runner.snapshot
            state = snap.state
            if state.health.value == "down":
                code = EXIT_UNREACHABLE
            elif state.health.value != "ok" and code == EXIT_OK:
                code = EXIT_FAILED
            doc.append({"backend": snap.backend, "state": state.health.value, "message": state.message,
                        "hint": state.hint,
                        **{key.removeprefix("sllm_"): [dataclasses.asdict(r) for r in snap.panes.get(key, ())]
                           for key in ("sllm_heads", "sllm_models", "sllm_nodes")}})
    finally:
        fleet.close()
    if args.json:
        print(json.dumps(doc, indent=2))
        return code
    for head in doc:
        line = f"{head['backend']}: {head['state']}" + (f" - {head['message']}" if head["message"] else "")
        print(line)
        for h in head["heads"]:
            print(f"  {h['url']}  version {h['version']}  pylet_connected {str(h['pylet_connected']).lower()}")
        if head["models"]:
            print()
            print_table(_flat(head["models"]), ["id", "status", "replicas", "min_replicas", "max_replicas", "instances",
                                         "pylet_states", "workers", "endpoints", "problem"])
        if head["nodes"]:
            print()
            print_table(_flat(head["nodes"]), ["id", "host", "status", "gpus", "sllm_store_endpoint", "cached_models"])
    return code


def cmd_register(args) -> int:
    from servedeck.backends.sllm.register import RegisterInputError, Registration

    try:
        registration = Registration(args.model, args.backend, args.min_instances, args.max_instances,
                                    args.keep_alive, args.tensor_parallel_size).check()
    except RegisterInputError as exc:
        print(f"servedeck sllm register: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return _act(args, lambda runner: runner.backend.register(registration), mutating=True)


def cmd_delete(args) -> int:
    def run(runner):
        if not confirmed(f"delete model {args.model} from {runner.name}?", args.yes):
            return None
        return runner.backend.delete(args.model)
    return _act(args, run, mutating=True)


def _act(args, run, *, mutating: bool) -> int:
    from servedeck.backends.base import BackendError

    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    loaded, fleet = found
    try:
        if mutating and is_readonly(args, loaded):
            print("refused: read-only mode", file=sys.stderr)
            return EXIT_REFUSED
        runner = _one(args, fleet)
        if runner is None:
            return EXIT_CONFIG
        try:
            result = run(runner)
        except BackendError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return EXIT_UNREACHABLE if not exc.reachable else EXIT_FAILED
    finally:
        fleet.close()
    if result is None:
        return EXIT_REFUSED
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_chat(args) -> int:
    found = load_fleet(args)
    if found is None:
        return EXIT_CONFIG
    _, fleet = found
    try:
        runner = _one(args, fleet)
        if runner is None:
            return EXIT_CONFIG
        outcome = runner.backend.chat(args.model, args.text, max_tokens=args.max_tokens)
    finally:
        fleet.close()
    if args.json:
        print(json.dumps(dataclasses.asdict(outcome), indent=2))
    else:
        print(outcome.render(), file=sys.stdout if outcome.ok else sys.stderr)
    return EXIT_OK if outcome.ok else EXIT_FAILED
