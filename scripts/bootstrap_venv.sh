#!/usr/bin/env bash
# Creates ./.venv from requirements*.txt when it is missing or the requirements changed.
# Sourced by the other scripts; prints nothing when the venv is up to date.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv"
requirements="${1:-${repo_root}/requirements.txt}"
stamp="${venv}/.requirements.$(basename "${requirements}").sha256"
wanted="$(cat "${repo_root}"/requirements*.txt | sha256sum | cut -d' ' -f1)"
if [[ ! -x "${venv}/bin/python" ]]; then
  echo "[bootstrap] creating ${venv}" >&2
  "${PYTHON:-python3}" -m venv "${venv}"
fi
if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${wanted}" ]]; then
  echo "[bootstrap] installing $(basename "${requirements}") into ${venv} (first run: a few minutes)" >&2
  "${venv}/bin/python" -m pip install --quiet --upgrade pip >&2
  "${venv}/bin/python" -m pip install --quiet -r "${requirements}" >&2
  echo "${wanted}" > "${stamp}"
fi
