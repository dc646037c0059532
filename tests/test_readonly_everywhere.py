"""Read-only means no change anywhere: every verb of the CLI's parser that is not known
to only read is refused under `--readonly` and under `readonly: true`.

The verbs are enumerated from the parser itself, so a new verb is covered the day it is
added: it either refuses in read-only mode, or it is listed in READS with what it does.
The config points every target at nothing reachable, so a verb that forgot to refuse
fails on the closed endpoints instead of changing something.
"""

from __future__ import annotations

import argparse

import pytest
import yaml

from servedeck.cli import build_parser, main
from servedeck.verbs.common import EXIT_REFUSED

# (verb words) -> why it changes nothing
READS = {
    ("validate",): "checks the config",
    ("status",): "polls",
    ("backends",): "lists installed kinds",
    ("lab", "status"): "reads lab.json",
    ("container", "status"): "reads the helper container",
    ("docker", "ps"): "lists containers",
    ("docker", "logs"): "reads a log",
    ("jobs",): "lists jobs",
    ("job",): "shows a job",
    ("nodes",): "lists nodes",
    ("logs",): "reads a log",
    ("orchestrate", "validate"): "checks the config",
    ("orchestrate", "status"): "reads the state",
    ("tunnel", "list"): "lists tunnels",
    ("workers",): "lists router workers",
    ("attention",): "lists what needs attention",
    ("events",): "reads the event feed",
    ("serve",): "serves the cockpit, which refuses changes itself in read-only mode",
    ("compose", "ps"): "lists projects",
    ("compose", "logs"): "reads logs",
    ("pylet", "workers"): "lists Pylet workers",
    ("pylet", "instances"): "lists Pylet instances",
    ("pylet", "logs"): "reads an instance's log",
    ("sllm", "status"): "polls the sllm head",
    ("sllm", "chat"): "sends one chat completion (uses a model, changes no deployment)",
    ("tune", "validate"): "checks a task file",
    ("tune", "plan"): "prints the experiments a run would start",
    ("tune", "status"): "reads the tuner's state",
    ("tune", "results"): "reads a results file",
}
# verbs that honour read-only by running without changing anything, tested where they live
HONOURED_ELSEWHERE = {
    ("orchestrate", "run"): "runs watch-only: tests/orchestrator/test_readonly_lab.py",
}
NOT_FROM_CONFIG = {("lab", "up"), ("lab", "down")}  # the lab reads no config: --readonly only

DUMMY = {"name": "sdfaults-nothing", "job": "999999", "target": "999999", "url": "http://127.0.0.1:9",
         "names": "sdfaults-nothing", "spec": "file//nonexistent", "script": "/nonexistent/job.sh"}


def leaves(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    """(verb words, positional arguments) of every leaf command; a positional with
    choices (lab up|down|status) makes one leaf per choice."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs:
        for name, sub in subs[0].choices.items():
            yield from leaves(sub, words + (name,))
        return
    positionals = [a for a in parser._actions if not a.option_strings]
    choice = next((a for a in positionals if a.choices), None)
    passthrough = [a for a in positionals if a.nargs == argparse.REMAINDER]  # a script's flags (dynamo)
    rest = [DUMMY.get(a.dest, "x") for a in positionals if a is not choice and a not in passthrough]
    if passthrough or any("--config" in a.option_strings for a in parser._actions):
        rest.append("--config")  # the test appends the file
    if choice is None:
        yield words, rest
    else:
        for value in choice.choices:
            yield words + (value,), rest


CHANGING = [(w, args) for w, args in leaves(build_parser()) if w not in READS and w not in HONOURED_ELSEWHERE]


def test_the_walk_sees_the_verbs_that_change_things():
    words = {w for w, _ in CHANGING}
    assert {("cancel",), ("drain",), ("submit",), ("docker", "rm"), ("worker", "add"), ("tunnel", "close"),
            ("orchestrate", "adopt"), ("container", "start"), ("lab", "up")} <= words
    listed = set(READS) | set(HONOURED_ELSEWHERE)
    assert listed <= {w for w, _ in leaves(build_parser())}, "READS names a verb the parser no longer has"


@pytest.fixture
def unreachable_config(tmp_path):
    def write(readonly: bool) -> str:
        doc = {
            "readonly": readonly,
            "backends": {
                "docker": [{"name": "d", "url": "unix:///nonexistent/sdfaults.sock"}],
                "compose": [{"name": "c", "url": "unix:///nonexistent/sdfaults.sock"}],
                "router": [{"name": "r", "url": "http://127.0.0.1:9"}],
                "slurm": [{"name": "s"}],
            },
            "orchestrator": {"state_dir": str(tmp_path / "state"), "metrics": {"enabled": False}},
            "deployments": [{
                "name": "dep", "replicas": 1, "router": {"base_url": "http://127.0.0.1:9"},
                "connectivity": {"mode": "direct", "worker_port_range": [18000, 18010]},
                "slurm": {"job_name_prefix": "sdfaults-", "time_limit": "00:10:00", "log_dir": str(tmp_path)},
                "sglang": {"command": ["true"], "args": ["--port", "{PORT}"]},
            }],
        }
        path = tmp_path / f"ro-{readonly}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return str(path)
    return write


@pytest.mark.parametrize("words, rest", CHANGING, ids=[" ".join(w) for w, _ in CHANGING])
@pytest.mark.parametrize("mode", ["--readonly", "readonly: true"])
def test_changing_verb_is_refused_in_readonly_mode(words, rest, mode, unreachable_config, capsys):
    if mode == "readonly: true" and words in NOT_FROM_CONFIG:
        pytest.skip("the lab takes no config; --readonly covers it")
    argv = (["--readonly"] if mode == "--readonly" else []) + [*words, *rest]
    if argv[-1] == "--config":
        argv.append(unreachable_config(mode != "--readonly"))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == EXIT_REFUSED, (argv, code, err)
    assert "read-only" in err, err
