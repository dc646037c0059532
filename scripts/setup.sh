#!/usr/bin/env bash
# Sets up a Debian 12 machine (as root) for servedeck development and its test suite:
# the Debian packages the local lab runs (Docker Engine, SLURM, munge, sshd, Prometheus,
# node_exporter) and the project venv in .venv. Idempotent; quiet unless something fails.
# Usage: scripts/setup.sh            (from anywhere; the venv goes in the repository root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG="$(mktemp -t servedeck-setup.XXXXXX.log)"
PACKAGES=(docker.io docker-compose slurmctld slurmd slurm-client slurmrestd munge openssh-server openssh-client
          prometheus prometheus-node-exporter busybox-static tmux iproute2 procps
          chromium  # the browser test of `servedeck serve` (headless)
          python3 python3-venv python3-pip)

fail() { echo "setup.sh: $1 (log: $LOG)" >&2; tail -n 20 "$LOG" >&2; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: run as root (it installs Debian packages)" >&2; exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  # No init system here, and the lab starts its own services: stop the packages'
  # maintainer scripts from starting daemons at install time (policy-rc.d exit 101).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >>"$LOG" 2>&1 || fail "apt-get update failed"
  apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
    || fail "apt-get install ${missing[*]} failed"
fi

cd "$ROOT"
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv >>"$LOG" 2>&1 || fail "python3 -m venv .venv failed"
fi
.venv/bin/python -m pip install --quiet --upgrade pip >>"$LOG" 2>&1 || fail "pip upgrade failed"
.venv/bin/python -m pip install --quiet -e '.[test,lab,profile]' >>"$LOG" 2>&1 || fail "pip install -e '.[test,lab,profile]' failed"
# An editable install leaves servedeck's own modules uncompiled, and with
# PYTHONDONTWRITEBYTECODE set (as in CI) every start would compile ~300 files again
# (0.1-0.2 s before the first frame). pip compiles a normal install; do the same here.
.venv/bin/python -m compileall -q -j 0 servedeck app backends widgets lab >>"$LOG" 2>&1 || fail "compileall failed"
.venv/bin/python -c "import servedeck.lab.manager" >>"$LOG" 2>&1 || fail "servedeck does not import"
# genai-bench (the autotuner's real benchmark, ~1.3 GB, ~3 min once) in its own venv: its
# pins (transformers, locust, gevent) stay out of servedeck's.
if [[ ! -x .venv-genai-bench/bin/genai-bench ]]; then
  python3 -m venv .venv-genai-bench >>"$LOG" 2>&1 || fail "python3 -m venv .venv-genai-bench failed"
  .venv-genai-bench/bin/python -m pip install --quiet 'genai-bench>=0.0.5' >>"$LOG" 2>&1 \
    || fail "pip install genai-bench failed"
fi
rm -f "$LOG"
