"""Every key the public sgorch's v2 config accepts (issue 15, part 5): `backend:` for
sglang and tei, `orchestrator.node_probe`, `orchestrator.notifications.email`, `state:`,
and what each means for the launched job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from servedeck.config.errors import ConfigError
from servedeck.orchestrator import sbatch
from servedeck.orchestrator.config import load_text

# The public sgorch's v2 schema, every key once (written for this test, same shape as
# its examples/config.yaml and examples/tei.yaml).
V2 = """\
orchestrator:
  metrics: {enabled: true, bind: "127.0.0.1", port: 9315}
  node_probe:
    enabled: true
    interval_s: 60
    timeout_s: 10
    model: "probe-model"
    prompt: "ping"
  notifications:
    type: email
    email:
      smtp_host: "127.0.0.1:2525"
      from_addr: "sgorch@example.org"
      to_addrs: ["ops@example.org", "oncall@example.org"]
  state: {backend: file, file_path: "/tmp/sgorch-v2-state.json"}
deployments:
  - name: chat
    replicas: 2
    enable_worker_metrics: true
    backend:
      type: sglang
      model_path: "org/model"
      venv_path: "/opt/sglang/.venv"
      args: ["--host", "0.0.0.0", "--port", "{PORT}"]
    connectivity:
      mode: tunneled
      tunnel_mode: local
      orchestrator_host: "127.0.0.1"
      advertise_host: "127.0.0.1"
      local_port_range: [30000, 30999]
      ssh: {user: "me", opts: ["-o", "ServerAliveInterval=15", "-o", "ExitOnForwardFailure=yes"]}
    router:
      base_url: "http://127.0.0.1:30000"
      endpoints: {list: "/workers/list", add: "/workers/add", remove: "/workers/remove"}
      auth: {type: header, header_name: "Authorization", header_value_env: "ROUTER_TOKEN"}
    slurm:
      prefer: auto
      account: "acct"
      reservation: "resv"
      partition: "GPUQ"
      qos: null
      gres: "gpu:1"
      constraint: "h100"
      time_limit: "08:00:00"
      time_limit_stagger_s: 600
      cpus_per_task: 24
      mem: "128G"
      log_dir: "/tmp/sg-logs"
      env: {HF_HOME: "/cache/hf"}
      sbatch_extra: []
      pre_commands: ["module load cuda/12.1"]
    health:
      path: "/health"
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
  - name: embed
    replicas: 1
    backend:
      type: tei
      binary_path: "~/.cargo/bin/text-embeddings-router"
      model_id: "BAAI/bge-base-en-v1.5"
      revision: "refs/pr/5"
      args: ["--hostname", "0.0.0.0", "--port", "{PORT}", "--json-output"]
      env: {HF_TOKEN: "${HF_TOKEN}", HUGGINGFACE_HUB_CACHE: "/cache/hf"}
      prometheus_port: 9000
    connectivity:
      mode: tunneled
      tunnel_mode: local
      orchestrator_host: "127.0.0.1"
      advertise_host: "127.0.0.1"
      local_port_range: [32101, 32199]
    slurm: {prefer: cli, account: "acct", partition: "GPUQ", gres: "gpu:1", log_dir: "/tmp/sg-logs"}
"""


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("WORKER_HEALTH_TOKEN", "health-secret")
    monkeypatch.setenv("HF_TOKEN", "hf-secret")


def test_every_v2_key_is_accepted_with_its_meaning(env):
    config = load_text(V2, "v2.yaml")
    o = config.orchestrator
    assert o.node_probe.enabled and o.node_probe.interval_s == 60 and o.node_probe.model == "probe-model"
    assert o.notifications.type == "email" and o.notifications.email.server() == ("127.0.0.1", 2525)
    assert o.notifications.email.to_addrs == ["ops@example.org", "oncall@example.org"]
    assert str(o.state_file()) == "/tmp/sgorch-v2-state.json"
    chat, embed = config.deployments
    assert chat.launch.type == "sglang" and chat.launch.model == "org/model"
    assert embed.router is None and embed.launch.type == "tei"


def test_tei_job_launches_text_embeddings_router_with_revision_env_and_metrics_port(env):
    embed = load_text(V2, "v2.yaml").deployment("embed")
    argv = embed.launch.argv(31005)
    assert argv[:7] == ["~/.cargo/bin/text-embeddings-router", "--model-id", "BAAI/bge-base-en-v1.5",
                        "--revision", "refs/pr/5", "--prometheus-port", "9000"]
    assert argv[7:] == ["--hostname", "0.0.0.0", "--port", "31005", "--json-output"]
    script = sbatch.render(embed, "i-1", 31005)
    assert "export HUGGINGFACE_HUB_CACHE=/cache/hf" in script and "export HF_TOKEN=hf-secret" in script
    assert '"$HOME"/.cargo/bin/text-embeddings-router --model-id BAAI/bge-base-en-v1.5' in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # the script parses


def test_tei_without_a_port_arg_still_gets_its_own_port():
    text = "deployments:\n  - name: e\n    replicas: 1\n    backend: {type: tei, model_id: m}\n"
    argv = load_text(text, "e.yaml").deployments[0].launch.argv(31111)
    assert argv == ["text-embeddings-router", "--model-id", "m", "--port", "31111"]


@pytest.mark.parametrize("email, words", [
    ("{smtp_host: h}", "needs email.smtp_host, email.from_addr and email.to_addrs"),
    ('{smtp_host: h, from_addr: a@b, to_addrs: ["x\\ny@z"]}', "one address"),
])
def test_incomplete_or_hostile_email_settings_are_located(email, words):
    text = (f"orchestrator:\n  notifications:\n    type: email\n    email: {email}\n"
            "deployments:\n  - name: e\n    replicas: 1\n    backend: {type: tei, model_id: m}\n")
    with pytest.raises(ConfigError) as info:
        load_text(text, "n.yaml")
    (problem,) = info.value.problems
    assert problem.line in (2, 3, 4) and words in problem.message


def test_cli_validates_the_v2_config(tmp_path, env):
    path = tmp_path / "v2.yaml"
    path.write_text(V2)
    proc = subprocess.run([sys.executable, "-m", "servedeck", "orchestrate", "validate", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "2 deployment(s): chat (2), embed (1)" in proc.stdout


def _two(tmp_path) -> str:
    path = tmp_path / "two.yaml"
    path.write_text(f"orchestrator: {{state_dir: {tmp_path / 'state'}, metrics: {{enabled: false}}}}\n"
                    "deployments:\n"
                    "  - {name: a, replicas: 0, backend: {type: tei, model_id: m}}\n"
                    "  - {name: b, replicas: 0, backend: {type: tei, model_id: m}}\n")
    return str(path)


def _verb(*argv):
    return subprocess.run([sys.executable, "-m", "servedeck", "orchestrate", *argv],
                          capture_output=True, text=True, timeout=120)


def test_status_and_adopt_take_the_public_sgorch_flags(tmp_path):
    cfg = _two(tmp_path)
    proc = _verb("adopt", "--config", cfg, "--deployment", "b", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["dry_run"] is True and doc["deployments"] == ["b"] and isinstance(doc["actions"], list)
    proc = _verb("status", "--config", cfg, "--deployment", "b", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [d["name"] for d in json.loads(proc.stdout)["deployments"]] == ["b"]
    for verb in (["adopt", "--dry-run"], ["status"]):
        proc = _verb(*verb, "--config", cfg, "--deployment", "nope")
        assert proc.returncode == 1 and "unknown deployment 'nope'" in proc.stderr
