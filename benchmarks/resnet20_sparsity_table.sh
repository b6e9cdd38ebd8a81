#!/usr/bin/env bash
# Weight sparsification of the ResNet-20 / CIFAR-10 baseline, one protocol and sparsity per call,
# every run with the same fine-tuning budget; docs/sparsity.md explains the learner.
#
#   benchmarks/resnet20_sparsity_table.sh <uniform|heurist|optimal> <ratio> [extra flags]
#
# <ratio>: the overall sparsity of the masked kernels, e.g. 0.5, 0.75, 0.9.
# optimal: DDPG over per-layer sparsities, 40 roll-outs (10 to warm up), each roll-out 20 steps of
# layer-wise regression (Adam at 1e-4: the original's 3e-2 drives the pruned model to chance
# accuracy on the reward's batches, docs/sparsity.md) + 200 steps of Adam fine-tuning, scored on
# 25 validation batches; then the 3 best distinct plans and the uniform and heuristic ones
# re-scored after 1000 steps on the whole validation split, the best on that kept
# (--ws_nb_rlouts_rescore 3).
# Fine-tuning budget (all protocols and ratios): 16 epochs, cosine from 0.05, weight decay 5e-4,
# batch 128, distillation from the dense model (--enbl_dst, weight 4, temperature 4); the sparsity
# ramps from 10 % to 50 % of the steps (cubic), masks updated every 100 steps; the channel
# table's budget. A finished run is not re-run: move its sparse_* directory aside to run it again
# with another budget. An optimal run's search does not depend on the fine-tuning budget: copy an
# earlier run's search/ into the new directory to reuse it. Needs the baseline of
# benchmarks/resnet20_baseline.sh in ${POCKETFLOW_RUNS}/resnet20/models; writes
# ${POCKETFLOW_RUNS}/resnet20/sparse_<protocol>_<ratio>/ (a rerun resumes: the plan, the search's
# trials and the fine-tuning checkpoints are kept).
# Each run's metrics.json holds the accuracies (dense, pruned at once, after fine-tuning), the
# measured sparsity per layer, and under sparse_export the dense / sparse TFLite sizes, gzip sizes
# and latencies.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${POCKETFLOW_DATA:-${HOME}/pocketflow_data}/cifar10"
run_dir="${POCKETFLOW_RUNS:-${HOME}/pocketflow_runs}/resnet20"
protocol="${1:?usage: $0 uniform|heurist|optimal <ratio> [flags]}"
ratio="${2:?usage: $0 uniform|heurist|optimal <ratio> [flags]}"
shift 2
case "${protocol}" in
  uniform|heurist) search=() ;;
  optimal) search=(--ws_nb_rlouts 40 --ws_nb_rlouts_min 10 --ws_nb_iters_rg 20 --ws_lrn_rate_rg 1e-4
                   --ws_nb_iters_ft 200 --ws_nb_iters_feval 25 --ws_nb_rlouts_rescore 3) ;;
  *) echo "error: expected a protocol uniform|heurist|optimal. Received: ${protocol}" >&2; exit 2 ;;
esac
[[ "${ratio}" =~ ^0?\.[0-9]+$ ]] || {
  echo "error: expected a sparsity 0 <= ratio < 1 such as 0.9. Received: ${ratio}" >&2; exit 2; }
[[ -f "${run_dir}/models/resnet_20_at_cifar10.keras" ]] || {
  echo "error: expected the baseline at ${run_dir}/models/resnet_20_at_cifar10.keras. Received: no such file (run benchmarks/resnet20_baseline.sh)" >&2; exit 2; }
finetune=(--nb_epochs 16 --lrn_rate_init 0.05 --lrn_rate_schedule cosine --loss_w_dcy 5e-4
          --enbl_dst)
sparsity=(--learner weight-sparse --ws_prune_ratio_prtl "${protocol}" --ws_prune_ratio "${ratio}"
          --ws_iter_ratio_beg 0.1 --ws_iter_ratio_end 0.5 --ws_prune_ratio_exp 3
          --ws_mask_update_step 100)
name="sparse_${protocol}_${ratio}"
cd "${run_dir}"
exec "${repo_root}/scripts/run_local.sh" nets/resnet_at_cifar10_run.py \
  --data_dir_local "${data_dir}" --model_dir ./models --save_dir "./${name}" \
  --log_dir "./logs_${name}" --save_step 352 --summ_step 50 \
  "${finetune[@]}" "${sparsity[@]}" "${search[@]}" "$@"
