#!/usr/bin/env bash
# Usage: ./scripts/run_local.sh [nets/<model>_at_<dataset>_run.py] [-n N | --nb_gpus=N] [flags...]
#        ./scripts/run_local.sh --model_file MODEL.keras --dataset NAME [flags...]
#
# With no arguments: trains LeNet on scikit-learn's digits (embedded, no download), exports
# model.tflite and model_int8.tflite, benchmarks them and prints a summary. With --model_file and
# no launcher: runs main.py on your own model (docs/own_model.md).
# -n N > 1 trains data-parallel on N GPUs (tf.distribute MirroredStrategy, one process).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "${repo_root}/scripts/bootstrap_venv.sh" "${repo_root}/requirements.txt"

script="nets/lenet_at_digits_run.py"
if [[ $# -gt 0 && "$1" == *.py ]]; then
  script="$1"
  shift
else
  for arg in "$@"; do  # your own model (--model_file) needs no launcher
    case "${arg}" in --model_file|--model_file=*) script="${repo_root}/main.py" ;; esac
  done
fi
[[ -f "${script}" || -f "${repo_root}/${script}" ]] || {
  echo "error: expected a launcher such as nets/resnet_at_cifar10_run.py. Received: ${script} (no such file)" >&2
  exit 2
}
[[ -f "${script}" ]] || script="${repo_root}/${script}"

nb_gpus=1
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) nb_gpus="$2"; shift 2 ;;
    -n=*|--nb_gpus=*) nb_gpus="${1#*=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ "${nb_gpus}" =~ ^[1-9][0-9]*$ ]] || {
  echo "error: expected -n to be a positive number of GPUs. Received: ${nb_gpus}" >&2
  exit 2
}
if [[ "${nb_gpus}" -gt 1 ]]; then
  if command -v nvidia-smi > /dev/null 2>&1; then
    export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-$(seq -s, 0 $((nb_gpus - 1)))}"
  fi
  args=(--enbl_multi_gpu "${args[@]}")
fi

export PYTHONPATH="${repo_root}${PYTHONPATH:+:${PYTHONPATH}}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "${repo_root}/.venv/bin/python" "${script}" ${args[@]+"${args[@]}"}
