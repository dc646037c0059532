#!/usr/bin/env bash
# Sets everything up, starts the local lab (router, stand-in workers and GPUs, Prometheus,
# node_exporter, SLURM, sshd, Docker Engine) in ./.lab, and opens the cockpit on it.
# The lab keeps running after you quit: `.venv/bin/servedeck lab down` stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
# Start the lab unless one already runs here; a record left by a lab whose processes are
# gone (a reboot) is cleared first.
if ! .venv/bin/servedeck lab status --dir .lab 2>/dev/null | grep -q " running "; then
  .venv/bin/servedeck lab down --dir .lab >/dev/null 2>&1 || true
  .venv/bin/servedeck lab up --dir .lab
fi
exec .venv/bin/servedeck --config .lab/servedeck.yaml "$@"
