#!/usr/bin/env bash
# Quantization-aware training of the ResNet-20 / CIFAR-10 baseline for TFLite:
# uniform-tf at <weight bits>/<activation bits> (default 8/8), beside post-training int8 of the
# same float model; the export reports accuracy, size and latency (1 and 2 threads) of the float,
# the quantization-aware int8 and the post-training int8 TFLite files.
#
#   benchmarks/resnet20_uniform_tf.sh [weight_bits] [activation_bits] [extra flags]
#
# Fine-tuning budget: 3 epochs, Adam at 1e-4 (the net's 0.1 x --uqtf_lrn_rate_dcy 1e-3), cosine
# decay, batch 128. Needs the baseline of benchmarks/resnet20_baseline.sh in
# ${POCKETFLOW_RUNS}/resnet20/models; writes ${POCKETFLOW_RUNS}/resnet20/uniform_tf_<w>_<a>/
# (a rerun resumes).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${POCKETFLOW_DATA:-${HOME}/pocketflow_data}/cifar10"
run_dir="${POCKETFLOW_RUNS:-${HOME}/pocketflow_runs}/resnet20"
weight_bits="${1:-8}"
activation_bits="${2:-8}"
shift $(( $# > 2 ? 2 : $# ))
[[ -f "${run_dir}/models/resnet_20_at_cifar10.keras" ]] || {
  echo "error: expected the baseline at ${run_dir}/models/resnet_20_at_cifar10.keras. Received: no such file (run benchmarks/resnet20_baseline.sh)" >&2; exit 2; }
cd "${run_dir}"
exec "${repo_root}/scripts/run_local.sh" nets/resnet_at_cifar10_run.py --learner uniform-tf \
  --data_dir_local "${data_dir}" --model_dir ./models \
  --save_dir "./uniform_tf_${weight_bits}_${activation_bits}" \
  --log_dir "./logs_uniform_tf_${weight_bits}_${activation_bits}" --save_step 352 --summ_step 50 \
  --nb_epochs 3 --lrn_rate_schedule cosine --uqtf_lrn_rate_dcy 1e-3 \
  --uqtf_weight_bits "${weight_bits}" --uqtf_activation_bits "${activation_bits}" \
  --nb_repts 300 "$@"
