#!/usr/bin/env bash
# The "bring your own model" recipe of docs/own_model.md, end to end on CIFAR-10:
#   1. the shared JPEG images as an image folder (prepare_data.sh: 45,000 train / 5,000 val);
#   2. MobileNetV2 (alpha 0.5, 32x32) trained by a plain Keras script (train_keras.py);
#   3. that .keras file through --model_file: channel auto at 50 % of the MACs (12 roll-outs),
#      weight sparsity 0.75 (uniform per-layer ratios: the searched default's 200 roll-outs take
#      hours on 2 cores), uniform-tf (8-bit quantization-aware training);
#   4. the table (table.py): accuracy on the 5,000 val images, size and latency against the
#      user's model, latencies measured interleaved in one process.
# Every step resumes where it stopped when the script is run again (a finished run is skipped).
# Environment: POCKETFLOW_DATA (default ~/pocketflow_data), POCKETFLOW_RUNS (default
# ~/pocketflow_runs); TRAIN_EPOCHS (default 15), FINETUNE_EPOCHS (default 5), ROLLOUTS (12).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/../.." && pwd)"
data_dir="${POCKETFLOW_DATA:-${HOME}/pocketflow_data}/cifar10_jpg"
run_dir="${POCKETFLOW_RUNS:-${HOME}/pocketflow_runs}/mnv2"
model="${run_dir}/mobilenetv2_cifar10.keras"
finetune=(--nb_epochs "${FINETUNE_EPOCHS:-5}")

"${here}/prepare_data.sh"
source "${repo_root}/scripts/bootstrap_venv.sh" "${repo_root}/requirements.txt"
mkdir -p "${run_dir}"
if [[ ! -f "${model}" ]]; then
  "${repo_root}/.venv/bin/python" "${here}/train_keras.py" --data_dir "${data_dir}" \
    --out "${model}" --epochs "${TRAIN_EPOCHS:-15}"
fi

compress() {  # compress <name> <learner flags...>
  local name="$1"; shift
  [[ -f "${run_dir}/${name}/export.json" ]] && return 0
  (cd "${run_dir}" && "${repo_root}/scripts/run_local.sh" --model_file "${model}" \
    --dataset image_folder --data_dir_local "${data_dir}" --input_scale -1_1 \
    --save_dir "./${name}" --log_dir "./logs_${name}" "$@")
}
compress channel --learner channel --cp_prune_option auto --cp_preserve_ratio 0.5 \
  --cp_nb_rlouts "${ROLLOUTS:-12}" --cp_nb_rlouts_min "$(( (${ROLLOUTS:-12} + 1) / 2 ))" \
  "${finetune[@]}"
compress sparse --learner weight-sparse --ws_prune_ratio 0.75 --ws_prune_ratio_prtl uniform \
  "${finetune[@]}"
compress uniform_tf --learner uniform-tf "${finetune[@]}"

"${repo_root}/.venv/bin/python" "${here}/table.py" --run_dir "${run_dir}" \
  --data_dir "${data_dir}" | tee "${run_dir}/table.md"
