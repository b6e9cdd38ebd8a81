#!/usr/bin/env bash
# Usage: ./scripts/run_tests.sh [pytest args...]   (default: the fast suite, slow tests skipped,
# on two processes)
# Sets up ./.venv when missing, then runs pytest from the repository root.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "${repo_root}/scripts/bootstrap_venv.sh" "${repo_root}/requirements-dev.txt"
cd "${repo_root}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
if [[ $# -eq 0 ]]; then
  # the fast suite, on PYTEST_WORKERS processes (pytest-xdist; 2 = the cores CI has)
  set -- -m "not slow" -n "${PYTEST_WORKERS:-2}"
fi
exec .venv/bin/python -m pytest "$@"
