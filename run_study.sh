#!/usr/bin/env bash
# The slides' comparison: the six models, 20 epochs each under --protocol=slides, for every
# seed given (default: 0). Finished runs are skipped and interrupted ones resumed, so the
# script can simply be started again after a crash. Extra flags after "--" go to every run.
#   bash run_study.sh 0 1 2            # three seeds
#   bash run_study.sh 0 -- --epochs=5
set -euo pipefail
cd "$(dirname "$0")"
seeds=()
while [[ $# -gt 0 && $1 != -- ]]; do seeds+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
[[ ${#seeds[@]} -gt 0 ]] || seeds=(0)
mkdir -p logs
for seed in "${seeds[@]}"; do
  for model in gan improved_gan wgan wgan_gp lsgan lsgan_reg; do
    echo "== $model seed $seed"
    python main.py --model="$model" --protocol=slides --seed="$seed" "$@" \
      2>&1 | tee -a "logs/${model}_seed${seed}.log" | grep -E 'error|Finished|nothing to do' || true
  done
done
