#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root): installs what is missing
# (Debian packages, the venv), then runs pytest. The tests start the real services they
# need through the local lab and stop them again. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest -ra "$@"
