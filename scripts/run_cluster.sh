#!/usr/bin/env bash
# Multi-host data-parallel training with tf.distribute.MultiWorkerMirroredStrategy.
#
# Slurm, one task per node, inside an allocation (sbatch/salloc):
#   srun --ntasks-per-node=1 ./scripts/run_cluster.sh nets/resnet_at_ilsvrc12_run.py [flags...]
# Any other scheduler: start the launcher on every host with
#   --hosts h1,h2,... --task_index I before the launcher's path.
#
# Each worker derives TF_CONFIG (worker 0 is the chief: it alone writes checkpoints, models and
# logs, so --save_dir/--model_dir/--log_dir should be on a shared filesystem) and uses every GPU
# of its host. The global batch is --batch_size x all replicas; the learning rate scales with it.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "${repo_root}/scripts/bootstrap_venv.sh" "${repo_root}/requirements.txt"

hosts="" task_index=""
while [[ $# -gt 0 && "$1" != *.py ]]; do
  case "$1" in
    --hosts) hosts="$2"; shift 2 ;;
    --task_index) task_index="$2"; shift 2 ;;
    *) echo "error: expected --hosts, --task_index or a launcher path. Received: $1" >&2; exit 2 ;;
  esac
done
if [[ -z "${hosts}" && -n "${SLURM_JOB_NODELIST:-}" ]]; then
  hosts="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | paste -sd, -)"
  task_index="${SLURM_PROCID}"
fi
[[ -n "${hosts}" && -n "${task_index}" ]] || {
  echo "error: expected a Slurm allocation or --hosts h1,h2 --task_index I. Received: neither" >&2
  exit 2
}
TF_CONFIG="$(PYTHONPATH="${repo_root}" "${repo_root}/.venv/bin/python" -m utils.distribute \
  --hosts "${hosts}" --task_index "${task_index}" --port "${PF_WORKER_PORT:-12345}")"
export TF_CONFIG
exec "${repo_root}/scripts/run_local.sh" "$@"
