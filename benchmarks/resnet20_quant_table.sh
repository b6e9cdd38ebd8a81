#!/usr/bin/env bash
# Weight quantization of the ResNet-20 / CIFAR-10 baseline, one configuration per call, every
# configuration with the same fine-tuning budget; docs/quantization.md explains the columns.
#
#   benchmarks/resnet20_quant_table.sh <method> <bits> [extra flags]
#
# <method>: uniform | non-uniform (fixed <bits> per quantized layer, activations float, first
# and last layer float), uniform-auto | non-uniform-auto (per-layer bits in [2, 8] searched by
# DDPG, 40 roll-outs of 200 fine-tuning steps, at an average of <bits> bits per weight).
# Fine-tuning budget: 8 epochs of Adam from 1e-3 (divided by 10 at 50 % and 80 %), batch 128,
# weight decay 5e-4 (extra flags override it, e.g. --nb_iters_train 300 for a quick check).
# Needs the baseline of benchmarks/resnet20_baseline.sh in ${POCKETFLOW_RUNS}/resnet20/models
# (POCKETFLOW_MODELS overrides that directory); writes ${POCKETFLOW_RUNS}/resnet20/quant_<method>_<bits>/
# (a rerun resumes). Each run's metrics.json has eval accuracy (float, quantized before and after
# fine-tuning), bits per layer and the packed size (size.total_bytes vs size.float_model_bytes).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${POCKETFLOW_DATA:-${HOME}/pocketflow_data}/cifar10"
run_dir="${POCKETFLOW_RUNS:-${HOME}/pocketflow_runs}/resnet20"
models_dir="${POCKETFLOW_MODELS:-${run_dir}/models}"
method="${1:?usage: $0 uniform|non-uniform|uniform-auto|non-uniform-auto <bits> [flags]}"
bits="${2:?usage: $0 <method> <bits> [flags]}"
shift 2
case "${method}" in
  uniform) learner=(--learner uniform --uql_weight_bits "${bits}" --uql_quant_epochs 8) ;;
  non-uniform) learner=(--learner non-uniform --nuql_weight_bits "${bits}" --nuql_quant_epochs 8) ;;
  uniform-auto) learner=(--learner uniform --uql_quant_epochs 8 --uql_enbl_rl_agent
                         --uql_equivalent_bits "${bits}" --uql_nb_rlouts 40 --uql_nb_rlouts_min 10) ;;
  non-uniform-auto) learner=(--learner non-uniform --nuql_quant_epochs 8 --nuql_enbl_rl_agent
                             --nuql_equivalent_bits "${bits}" --nuql_nb_rlouts 40
                             --nuql_nb_rlouts_min 10) ;;
  *) echo "error: expected a method uniform|non-uniform|uniform-auto|non-uniform-auto. Received: ${method}" >&2; exit 2 ;;
esac
[[ -f "${models_dir}/resnet_20_at_cifar10.keras" ]] || {
  echo "error: expected the baseline at ${models_dir}/resnet_20_at_cifar10.keras. Received: no such file (run benchmarks/resnet20_baseline.sh)" >&2; exit 2; }
mkdir -p "${run_dir}"
cd "${run_dir}"
exec "${repo_root}/scripts/run_local.sh" nets/resnet_at_cifar10_run.py \
  --data_dir_local "${data_dir}" --model_dir "${models_dir}" \
  --save_dir "./quant_${method}_${bits}" --log_dir "./logs_quant_${method}_${bits}" \
  --save_step 352 --summ_step 50 --loss_w_dcy 5e-4 "${learner[@]}" "$@"
