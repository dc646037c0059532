"""The orchestrator's config: both forms, located errors, hostile values, the CLI's validate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from servedeck.config.errors import ConfigError
from servedeck.orchestrator.config import load_text

EXAMPLES = Path(__file__).resolve().parents[2] / "servedeck" / "orchestrator" / "examples"

SEED_FORM = """\
orchestrator:
  metrics: {enabled: true, bind: "127.0.0.1", port: 9315}
  notifications: {type: log_only}
deployments:
  - name: gpt-oss-20b
    replicas: 2
    connectivity:
      mode: tunneled
      tunnel_mode: local
      orchestrator_host: "127.0.0.1"
      advertise_host: "127.0.0.1"
      local_port_range: [30000, 30999]
      ssh: {user: me, opts: ["-o", "ServerAliveInterval=15"]}
    router:
      base_url: "http://127.0.0.1:8080"
      endpoints: {list: /workers/list, add: /workers/add, remove: /workers/remove}
      auth: {type: header, header_name: Authorization, header_value_env: ROUTER_TOKEN}
    slurm:
      prefer: auto
      account: acct
      reservation: res
      partition: GPUQ
      gres: "gpu:1"
      constraint: h100
      time_limit: "08:00:00"
      cpus_per_task: 24
      mem: 128G
      log_dir: /tmp/logs
      env: {HF_HOME: /tmp/hf}
    sglang:
      model_path: openai/gpt-oss-20b
      venv_path: /opt/sglang/.venv
      args: ["--host", "0.0.0.0", "--port", "{PORT}", "--context-length", "64000"]
    health:
      path: /v1/health
      interval_s: 5
      timeout_s: 3
      consecutive_ok_for_ready: 2
      failures_to_unhealthy: 3
      headers: {Authorization: "${WORKER_HEALTH_TOKEN}"}
    policy:
      restart_backoff_s: 60
      deregister_grace_s: 10
      start_grace_period_s: 600
      predrain_seconds_before_walltime: 180
      node_blacklist_cooldown_s: 600
"""


def test_seed_form_loads_with_env(monkeypatch):
    monkeypatch.setenv("WORKER_HEALTH_TOKEN", "Bearer s3cret-value")
    config = load_text(SEED_FORM, "seed.yaml")
    dep = config.deployments[0]
    assert dep.health.headers == {"Authorization": "Bearer s3cret-value"}
    assert dep.launch.argv(31234)[:5] == ["/opt/sglang/.venv/bin/python", "-m", "sglang.launch_server",
                                          "--model-path", "openai/gpt-oss-20b"]
    assert "31234" in dep.launch.argv(31234)
    assert dep.job_name == "sgorch-gpt-oss-20b"


def test_newer_backend_form_router_optional_for_tei():
    text = """\
deployments:
  - name: embed
    replicas: 1
    backend: {type: tei, model_path: BAAI/bge, args: ["--port", "{PORT}"]}
"""
    dep = load_text(text, "x.yaml").deployments[0]
    assert dep.router is None and dep.launch.type == "tei"
    assert dep.launch.argv(5) == ["text-embeddings-router", "--model-id", "BAAI/bge", "--port", "5"]


def test_as_a_section_of_servedeck_config():
    text = ("ui: {theme: nord}\nbackends: {}\norchestrator: {metrics: {port: 9999}}\n"
            "deployments:\n  - name: a\n    replicas: 1\n    backend: {type: tei, args: []}\n")
    config = load_text(text, "servedeck.yaml")
    assert [d.name for d in config.deployments] == ["a"]


@pytest.mark.parametrize("snippet, where, words", [
    ("    replicas: -1\n", (3, 5), "replicas"),
    ("    replicas: 1\n    colour: red\n", (4, 5), "unknown key 'colour'"),
    ("    replicas: 1\n    slurm: {partition: \"gpu; rm -rf /\"}\n", (4, 5), "one token"),
    ("    replicas: 1\n    slurm: {env: {\"A B\": x}}\n", (4, 5), "not a valid environment variable"),
], ids=["negative", "unknown", "hostile-partition", "bad-env-key"])
def test_errors_are_located(snippet, where, words):
    text = "deployments:\n  - name: ok\n" + snippet + "    backend: {type: tei}\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "f.yaml")
    problem = info.value.problems[0]
    assert (problem.file, problem.line) == ("f.yaml", where[0]) and words in problem.message, str(info.value)


def test_hostile_deployment_name_is_refused_at_its_line():
    text = "deployments:\n  - name: \"x; touch /tmp/pwned $(id)\"\n    replicas: 1\n    backend: {type: tei}\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "f.yaml")
    assert str(info.value).startswith("f.yaml:2:5:") and "letters, digits" in str(info.value)


def test_missing_env_is_named_not_echoed(monkeypatch):
    monkeypatch.delenv("WORKER_HEALTH_TOKEN", raising=False)
    with pytest.raises(ConfigError) as info:
        load_text(SEED_FORM, "seed.yaml")
    assert "WORKER_HEALTH_TOKEN is not set" in str(info.value)
    line = next(i for i, text in enumerate(SEED_FORM.splitlines(), 1) if "WORKER_HEALTH_TOKEN" in text)
    assert str(info.value).startswith(f"seed.yaml:{line}:")


def test_sglang_needs_router_and_port():
    text = "deployments:\n  - name: a\n    replicas: 1\n    sglang: {model_path: m, args: []}\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "f.yaml")
    assert "router" in str(info.value)


def test_example_config_validates_with_the_cli(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "ROUTER_TOKEN": "t0ken-value", "WORKER_HEALTH_TOKEN": "h3alth-value",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "servedeck", "orchestrate", "validate", "--config",
                           str(EXAMPLES / "config.yaml")], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "deployment" in done.stdout


def test_cli_validate_prints_file_line_col(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployments:\n  - name: a\n    replicas: many\n    backend: {type: tei}\n")
    done = subprocess.run([sys.executable, "-m", "servedeck", "orchestrate", "validate", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{bad}:3:5: ") and "replicas" in done.stderr
    assert "Traceback" not in done.stderr
