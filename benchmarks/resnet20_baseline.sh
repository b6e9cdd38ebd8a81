#!/usr/bin/env bash
# Re-creates (or resumes) the ResNet-20 / CIFAR-10 full-precision baseline that every compression
# benchmark starts from:
#
#   ${POCKETFLOW_RUNS}/resnet20/models/resnet_20_at_cifar10.keras
#
# 1. converts ../shared/data/cifar10/cifar10-train-jpg.tar.gz to CIFAR-10 binaries
#    (45,000 train / 5,000 eval: files 4500-4999 of each class) unless already done;
# 2. installs the recorded baseline, benchmarks/baseline/resnet_20_at_cifar10.keras (trained by
#    step 3; docs/benchmarks.md names it by its SHA-256), when the run directory has no model, so
#    every table starts from the same model on any machine; with --retrain, with trainer flags, or
#    with no recorded model, instead
# 3. trains ResNet-20 for 40 epochs (cosine, batch 128, weight decay 5e-4), or resumes from the
#    last checkpoint when interrupted: just run this script again.
#
# Environment: POCKETFLOW_DATA (default ~/pocketflow_data), POCKETFLOW_RUNS (default
# ~/pocketflow_runs), CIFAR10_ARCHIVE (default ../shared/data/cifar10/cifar10-train-jpg.tar.gz).
# Other arguments are passed to the trainer (e.g. --nb_epochs 100).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${POCKETFLOW_DATA:-${HOME}/pocketflow_data}/cifar10"
run_dir="${POCKETFLOW_RUNS:-${HOME}/pocketflow_runs}/resnet20"
recorded="${repo_root}/benchmarks/baseline/resnet_20_at_cifar10.keras"
retrain=false
if [[ "${1:-}" == --retrain ]]; then retrain=true; shift; fi
if [[ $# -gt 0 ]]; then retrain=true; fi  # trainer flags: train (or resume)
archive="${CIFAR10_ARCHIVE:-${repo_root}/../shared/data/cifar10/cifar10-train-jpg.tar.gz}"

source "${repo_root}/scripts/bootstrap_venv.sh" "${repo_root}/requirements.txt"
if [[ ! -f "${data_dir}/test_batch.bin" ]]; then
  [[ -f "${archive}" ]] || { echo "error: expected the CIFAR-10 archive at ${archive}. Received: no such file" >&2; exit 2; }
  PYTHONPATH="${repo_root}" "${repo_root}/.venv/bin/python" \
    "${repo_root}/tools/conversion/convert_image_folder.py" --input "${archive}" \
    --cifar10_dir "${data_dir}" --eval_index_range 4500-4999
fi

mkdir -p "${run_dir}"
cd "${run_dir}"
if [[ "${retrain}" == false && -f "${recorded}" ]]; then
  if [[ ! -f models/resnet_20_at_cifar10.keras ]]; then
    mkdir -p models && cp "${recorded}" models/
    echo "installed the recorded baseline (${recorded}) in ${run_dir}/models; --retrain trains one"
  else
    echo "${run_dir}/models/resnet_20_at_cifar10.keras is there; --retrain trains a new one"
  fi
  exit 0
fi
exec "${repo_root}/scripts/run_local.sh" nets/resnet_at_cifar10_run.py \
  --data_dir_local "${data_dir}" --lrn_rate_schedule cosine --nb_epochs 40 --loss_w_dcy 5e-4 \
  --save_step 352 --summ_step 50 --enbl_export=false \
  --model_dir ./models --save_dir ./models_full-prec --log_dir ./logs "$@"
