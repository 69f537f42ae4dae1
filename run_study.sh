#!/usr/bin/env bash
# The slides' comparison: the six models, 20 epochs each under --protocol=slides, for every
# seed given (default: 0). Finished runs are skipped and interrupted ones resumed, so the
# script can simply be started again after a crash. Extra flags after "--" go to every run.
# At the end the small results (logs, metrics, a few grids; never checkpoints) are copied to
# results/runs/<run>/ and the figures and RESULTS.md are drawn from there, so git can hold
# everything the figures need.
#   bash run_study.sh 0 1 2            # three seeds
#   bash run_study.sh 0 -- --epochs=5
#   MODELS="lsgan lsgan_reg" bash run_study.sh 1 2    # a subset of the models
set -euo pipefail
cd "$(dirname "$0")"
seeds=()
while [[ $# -gt 0 && $1 != -- ]]; do seeds+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
[[ ${#seeds[@]} -gt 0 ]] || seeds=(0)
mkdir -p logs
for seed in "${seeds[@]}"; do
  for model in ${MODELS:-gan improved_gan wgan wgan_gp lsgan lsgan_reg}; do
    echo "== $model seed $seed"
    python main.py --model="$model" --protocol=slides --seed="$seed" "$@" \
      2>&1 | tee -a "logs/${model}_seed${seed}.log" | grep -E 'error:|Finished|nothing to do' || true
  done
done
for run_dir in checkpoints/*_seed*/; do
  run=$(basename "$run_dir")
  mkdir -p "results/runs/$run"
  cp "$run_dir"/{run.json,losses.csv,metrics.csv,gradients.csv} "results/runs/$run/" 2>/dev/null || true
  for epoch in 001 005 010 015 020; do
    cp "samples/$run/epoch_$epoch.png" "results/runs/$run/" 2>/dev/null || true
  done
done
python main.py --mode=compare --seeds="$(IFS=,; echo "${seeds[*]}")" "$@" \
  --sample_dir=results/runs --checkpoint_dir=results/runs --out_dir=results
