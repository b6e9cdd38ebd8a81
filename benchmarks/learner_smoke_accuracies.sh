#!/usr/bin/env bash
# Usage: benchmarks/learner_smoke_accuracies.sh REPO OUT_DIR
#
# The same tiny run of every learner on digits with a fixed seed, from the checkout at REPO (its
# ./.venv), in OUT_DIR: full-prec (tiny LeNet, 0.1 of the schedule), then each compression learner
# for 20 steps. Prints "learner keras_accuracy int8_accuracy" per line. Run it on two checkouts
# (e.g. `git worktree add /tmp/before <commit>`) to show that a refactoring computes the same
# results: the lines must be identical.
set -euo pipefail
repo="$(cd "$1" && pwd)"; out="$2"
rm -rf "${out}"; mkdir -p "${out}"; cd "${out}"
tiny=(--tiny_net --nb_epochs_rat=0.02 --summ_step=10 --model_dir=models --log_dir=logs
      --enbl_benchmark=false --seed=0)
run() { "${repo}/.venv/bin/python" "${repo}/nets/lenet_at_digits_run.py" "$@"; }
accuracy() {
  python3 -c "import json, sys; m = json.load(open(sys.argv[1]))
print(m['eval']['accuracy'], (m.get('export') or {}).get('int8_accuracy', ''))" "$1"
}
run "${tiny[@]}" --nb_epochs_rat=0.1 --enbl_export=false > full-prec.log 2>&1
echo "full-prec $(accuracy models_full-prec/metrics.json)"
for spec in "channel --cp_prune_option=uniform" \
            "dis-chn-pruned --dcp_nb_iters_block=2 --dcp_nb_iters_layer=1" \
            "weight-sparse --ws_prune_ratio_prtl=uniform --ws_mask_update_step=2" \
            "uniform" "non-uniform" "uniform-tf"; do
  read -r learner flags <<< "${spec}"
  # shellcheck disable=SC2086  # the learner's own flags, split on purpose
  run "${tiny[@]}" --learner="${learner}" --nb_iters_train=20 --save_dir="out_${learner}" \
      ${flags} > "${learner}.log" 2>&1
  echo "${learner} $(accuracy "out_${learner}/metrics.json")"
done
