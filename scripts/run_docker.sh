#!/usr/bin/env bash
# Usage: ./scripts/run_docker.sh [nets/<model>_at_<dataset>_run.py] [-n N] [--data_dir_local DIR] [flags...]
#
# Builds the image from ./Dockerfile (tag pocketflow-tf2, rebuilt when the code changed: docker's
# layer cache makes that quick) and runs the launcher in it: the current directory is mounted at
# /work (so ./models, ./models_<learner> and ./logs land here, as with run_local.sh) and
# --data_dir_local at /data. -n N > 1 exposes N GPUs and trains with MirroredStrategy.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v docker > /dev/null || { echo "error: expected the docker command. Received: not found" >&2; exit 2; }

script="nets/lenet_at_digits_run.py"
if [[ $# -gt 0 && "$1" == *.py ]]; then script="$1"; shift; fi
[[ -f "${repo_root}/${script}" ]] || {
  echo "error: expected a launcher such as nets/resnet_at_cifar10_run.py. Received: ${script}" >&2; exit 2; }

nb_gpus=1 data_dir="" args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) nb_gpus="$2"; shift 2 ;;
    -n=*|--nb_gpus=*) nb_gpus="${1#*=}"; shift ;;
    --data_dir_local) data_dir="$2"; shift 2 ;;
    --data_dir_local=*) data_dir="${1#*=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ "${nb_gpus}" =~ ^[1-9][0-9]*$ ]] || { echo "error: expected -n to be a positive number of GPUs. Received: ${nb_gpus}" >&2; exit 2; }

mounts=(-v "$(pwd):/work")
if [[ -n "${data_dir}" ]]; then
  [[ -d "${data_dir}" ]] || { echo "error: expected --data_dir_local to be a directory. Received: ${data_dir}" >&2; exit 2; }
  mounts+=(-v "$(cd "${data_dir}" && pwd):/data:ro")
  args+=(--data_dir_local /data)
fi
gpus=()
if command -v nvidia-smi > /dev/null 2>&1; then
  gpus=(--gpus "\"device=$(seq -s, 0 $((nb_gpus - 1)))\"")
fi
[[ "${nb_gpus}" -gt 1 ]] && args=(--enbl_multi_gpu "${args[@]}")

terminal=()
[[ -t 0 && -t 1 ]] && terminal=(-it)
docker build -q -t pocketflow-tf2 "${repo_root}" > /dev/null
exec docker run --rm ${terminal[@]+"${terminal[@]}"} ${gpus[@]+"${gpus[@]}"} "${mounts[@]}" pocketflow-tf2 \
  "/opt/pocketflow/${script}" ${args[@]+"${args[@]}"}
