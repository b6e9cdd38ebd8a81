#!/usr/bin/env bash
# Channel pruning of the ResNet-20 / CIFAR-10 baseline at 50 % of the FLOPs, one method per call,
# every method with the same fine-tuning budget; docs/benchmarks.md has the table.
#
#   benchmarks/resnet20_channel_table.sh <method> [extra flags]
#
# <method>: lasso | l1 | fpgm (uniform keep ratio 0.71 ≈ 50 % of the MACs), auto (DDPG over
# per-group ratios under a 50 % FLOPs budget, 40 roll-outs), auto-gp (the same search with the GP
# backend, --cp_search_backend gp), auto-gft (the search result of auto, reused from channel_auto
# when there, then group fine-tuning: 4 groups at a time, Adam 1e-4 for 0.2 of the schedule
# between steps, as the original's defaults), inner (LASSO, the residual streams kept whole and
# every block's inner conv halved: 51 % of the MACs, channel counts that suit the SIMD width, see
# docs/pruning.md), dcp.
# Fine-tuning budget (every method): 16 epochs, cosine from 0.05, weight decay 5e-4, batch 128,
# distillation from the dense model (--enbl_dst, weight 4, temperature 4). A finished run is not
# re-run: move its channel_<method> directory aside to run it again with another budget. Needs the
# baseline of benchmarks/resnet20_baseline.sh in ${POCKETFLOW_RUNS}/resnet20/models; writes
# ${POCKETFLOW_RUNS}/resnet20/channel_<method>/ (a rerun resumes). Summary of all methods, from
# the repository root:
#   PYTHONPATH=. .venv/bin/python -m benchmarks.summarize_tables pruning ~/pocketflow_runs/resnet20/channel_*
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${POCKETFLOW_DATA:-${HOME}/pocketflow_data}/cifar10"
run_dir="${POCKETFLOW_RUNS:-${HOME}/pocketflow_runs}/resnet20"
method="${1:?usage: $0 lasso|l1|fpgm|auto|auto-gp|auto-gft|inner|dcp [flags]}"
shift
finetune=(--nb_epochs 16 --lrn_rate_init 0.05 --lrn_rate_schedule cosine --loss_w_dcy 5e-4
          --enbl_dst)
case "${method}" in
  lasso|l1|fpgm) learner=(--learner channel --cp_prune_option uniform
                          --cp_uniform_preserve_ratio 0.71 --cp_criterion "${method}") ;;
  auto) learner=(--learner channel --cp_prune_option auto --cp_preserve_ratio 0.5
                 --cp_nb_rlouts 40 --cp_nb_rlouts_min 10) ;;
  auto-gp) learner=(--learner channel --cp_prune_option auto --cp_preserve_ratio 0.5
                    --cp_nb_rlouts 40 --cp_search_backend gp) ;;
  auto-gft) learner=(--learner channel --cp_prune_option auto --cp_preserve_ratio 0.5
                     --cp_nb_rlouts 40 --cp_nb_rlouts_min 10 --cp_finetune --cp_list_group 4) ;;
  inner) learner=(--learner channel --cp_prune_option list --cp_prune_list_file inner.list) ;;
  dcp) learner=(--learner dis-chn-pruned --dcp_prune_ratio 0.29) ;;
  *) echo "error: expected a method lasso|l1|fpgm|auto|auto-gp|auto-gft|inner|dcp. Received: ${method}" >&2; exit 2 ;;
esac
[[ -f "${run_dir}/models/resnet_20_at_cifar10.keras" ]] || {
  echo "error: expected the baseline at ${run_dir}/models/resnet_20_at_cifar10.keras. Received: no such file (run benchmarks/resnet20_baseline.sh)" >&2; exit 2; }
cd "${run_dir}"
if [[ "${method}" == inner ]]; then  # 1.0 for groups with several producers, 0.5 for the others
  PYTHONPATH="${repo_root}" "${repo_root}/.venv/bin/python" -c "
import keras
from learners.pruning import build_graph
graph = build_graph(keras.models.load_model('models/resnet_20_at_cifar10.keras', compile=False))
print(','.join('1.0' if len(g.producers) > 1 else '0.5' for g in graph.prunable_groups))" > inner.list
fi
if [[ "${method}" == auto-gft && -d channel_auto/search && ! -d channel_auto-gft/search ]]; then
  mkdir -p channel_auto-gft && cp -r channel_auto/search channel_auto-gft/  # auto's search result
fi
exec "${repo_root}/scripts/run_local.sh" nets/resnet_at_cifar10_run.py \
  --data_dir_local "${data_dir}" --model_dir ./models --save_dir "./channel_${method}" \
  --log_dir "./logs_channel_${method}" --save_step 352 --summ_step 50 \
  "${finetune[@]}" "${learner[@]}" "$@"
