#!/usr/bin/env bash
# The study as a grid of independent, resumable runs, in order of priority:
#   1. every model of registry.py, --protocol=slides, seed 0 (Figure 1; Figure 2)
#   2. lsgan and lsgan_reg, seeds 1 and 2 (the headline comparison at n = 3)
#   3. wgan and wgan_gp under --protocol=paper, seed 0
#   4. ralsgan, seeds 1 and 2
# Each run resumes where it stopped and a finished one does nothing, so any line can be
# started again. Extra flags after "--" go to every run (e.g. -- --train_size=10000 --epochs=5).
#   bash run_study.sh                  # run the grid here, one run at a time, then --merge
#   bash run_study.sh --list           # print the grid, one command per line, for a scheduler
#   bash run_study.sh --merge          # copy the small results to results/runs/ and draw
# A run directory is locked while a process trains it: a line started twice exits 2.
set -euo pipefail
cd "$(dirname "$0")"
action=run
if [[ ${1:-} == --list || ${1:-} == --merge ]]; then action=${1#--}; shift; fi
[[ ${1:-} == -- ]] && shift
extra=("$@")

grid() {
  local models
  models=$(python -c 'import registry; print(*registry.MODELS)' 2>/dev/null)
  for model in $models; do echo "--model=$model --seed=0"; done
  for seed in 1 2; do for model in lsgan lsgan_reg; do echo "--model=$model --seed=$seed"; done; done
  for model in wgan wgan_gp; do echo "--model=$model --protocol=paper --seed=0"; done
  for seed in 1 2; do echo "--model=ralsgan --seed=$seed"; done
}

merge() {
  # The small results of every run (never checkpoints) under results/runs/<run>/, then the
  # figures and RESULTS.md from there, so that git holds everything they are drawn from.
  for run_dir in checkpoints/*_seed*/; do
    run=$(basename "$run_dir")
    mkdir -p "results/runs/$run"
    cp "$run_dir"/{run.json,losses.csv,metrics.csv,gradients.csv,final.json,classifier.json} \
      "results/runs/$run/" 2>/dev/null || true
    cp samples/"$run"/{epoch_001.png,epoch_005.png,epoch_010.png,epoch_020.png,final_1000.npz} \
      "results/runs/$run/" 2>/dev/null || true
  done
  python main.py --mode=compare --seeds=0,1,2 "${extra[@]}" \
    --sample_dir=results/runs --checkpoint_dir=results/runs --out_dir=results
}

case $action in
  list) grid | sed "s|^|python main.py |; s|\$| ${extra[*]}|" ;;
  merge) merge ;;
  run)
    mkdir -p logs
    mapfile -t lines < <(grid)
    started=$(date +%s); done_runs=0
    for line in "${lines[@]}"; do
      now=$(date +%s); elapsed=$((now - started))
      eta=""
      if ((done_runs > 0)); then eta=", about $(( elapsed / done_runs * (${#lines[@]} - done_runs) / 60 )) min left"; fi
      echo "== [$((done_runs + 1))/${#lines[@]}] $line  (study: $((elapsed / 60)) min so far$eta)"
      log="logs/$(echo "$line" | tr -d ' -' | tr '=' '_').log"
      # shellcheck disable=SC2086
      python main.py $line "${extra[@]}" 2>&1 | tee -a "$log" |
        grep --line-buffered -E 'error:|Finished|nothing to do|metrics:|step [0-9]*000/' || true
      done_runs=$((done_runs + 1))
    done
    merge ;;
esac
