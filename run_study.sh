#!/usr/bin/env bash
# The study's grids of independent, resumable runs.
# study (the default), in order of priority:
#   1. every model of registry.py, --protocol=slides, seed 0 (Figure 1; Figure 2)
#   2. lsgan and lsgan_reg, seeds 1 and 2 (the headline comparison at n = 3)
#   3. wgan and wgan_gp under --protocol=paper, seed 0
#   4. ralsgan, seeds 1 and 2, and under --protocol=paper, seed 0
#   5. lsgan and lsgan_reg under ralsgan's paper settings (--protocol=paper --lr=2e-4), seed 0
#   6. lsgan and lsgan_reg, seeds 3-9 (the headline comparison at n = 10)
# mechanism: the arms of studies/mechanism.py (target c, D's batch norm, lambda) at its short budget.
# Each run resumes where it stopped and a finished one does nothing (the runner skips it
# without starting it, also when only its merged results under results/ are left), so any
# line can be started again. Extra flags after "--" go to every run (e.g. -- --precision=mixed).
# A grid of your own: a file with one line of main.py flags per run, in place of the name.
#   bash run_study.sh [GRID]           # run the grid here, one run at a time, then merge
#   bash run_study.sh --list [GRID]    # print the grid, one command per line, for a scheduler
#   bash run_study.sh --merge [GRID]   # copy the grid runs' small results to git, rescore, draw
#                                      # (a run short of its end: its epochs so far, no finals)
#   bash run_study.sh --slurm [GRID] [sbatch options] [-- run flags]
#                                      # submit the unfinished lines as one Slurm job array
# A run directory is locked while a process trains it: a line started twice exits 2. A run that
# fails does not stop the others; the runner then names each failed line, merges nothing and
# exits 1. A run stopped by a signal (exit 75, checkpoint saved) stops the runner too.
# --slurm: one array task per unfinished line (cluster/slurm_task.sh), requeued when preempted
# and, warned 3 minutes ahead of its time limit, requeued after saving; threads from
# --cpus-per-task; one log per task in logs/slurm/; merge with --merge once all are done.
set -euo pipefail
action=run
if [[ ${1:-} =~ ^--(list|merge|slurm)$ ]]; then action=${1#--}; shift; fi
grid_name=study  # or mechanism, or a file of your own grid: a line of main.py flags per run
if [[ ${1:-} == study || ${1:-} == mechanism ]]; then grid_name=$1; shift
elif [[ -f ${1:-} ]]; then grid_name=$(realpath "$1"); shift; fi
grid_kind=study; [[ $grid_name == mechanism ]] && grid_kind=mechanism  # where its runs merge to
sbatch_options=()
if [[ $action == slurm ]]; then
  while (($#)) && [[ $1 != -- ]]; do sbatch_options+=("$1"); shift; done
fi
[[ ${1:-} == -- ]] && shift
extra=("$@")
cd "$(dirname "$0")"

python_lines() {  # the printed lines of a Python expression, without TensorFlow's start-up noise
  python -c "from studies import mechanism; import registry; print(*($1), sep='\n')" 2>/dev/null
}

runs_dir() { [[ $grid_kind == mechanism ]] && echo results/mechanism/runs || echo results/runs; }

run_states() {  # for each given grid line, tab-separated: its run's name, checkpoint and sample
  # directories, and state: finished (trained to its end in checkpoints/), merged (only its merged
  # results under results/ are left, and they reach its end), training (a live process holds its
  # lock), started, or new
  printf '%s\n' "$@" | python -c "
import sys, config, flags, train, utils
from pathlib import Path
for line in sys.stdin.read().splitlines():
    cfg = flags.config_of(['main.py', *line.split(), *sys.argv[2:]])
    name = config.run_name(cfg)
    run_dir = Path(cfg.checkpoint_dir) / name
    state = ('training' if utils.RunLock(run_dir).holder() else 'finished' if train.finished(cfg)
             else 'merged' if train.merged(cfg, sys.argv[1]) else 'started' if run_dir.is_dir() else 'new')
    print(name, run_dir, Path(cfg.sample_dir) / name, state, sep='\t')
" "$(runs_dir)" "${extra[@]}" 2>/dev/null
}

states_of_grid() {  # lines=(the grid) and states=(one run_states entry per line)
  mapfile -t lines < <(grid)
  mapfile -t states < <(run_states "${lines[@]}")
  if ((${#states[@]} != ${#lines[@]})); then
    echo "error: could not tell which runs have finished; run a line of --list alone to see why" >&2
    exit 1
  fi
}

grid() {
  if [[ -f $grid_name ]]; then grep -v -e '^#' -e '^[[:space:]]*$' "$grid_name"; return; fi
  if [[ $grid_name == mechanism ]]; then python_lines 'mechanism.grid_lines()'; return; fi
  for model in $(python_lines 'registry.MODELS'); do echo "--model=$model --seed=0"; done
  for seed in 1 2; do for model in lsgan lsgan_reg; do echo "--model=$model --seed=$seed"; done; done
  for model in wgan wgan_gp; do echo "--model=$model --protocol=paper --seed=0"; done
  for seed in 1 2; do echo "--model=ralsgan --seed=$seed"; done
  echo "--model=ralsgan --protocol=paper --seed=0"
  for model in lsgan lsgan_reg; do echo "--model=$model --protocol=paper --lr=2e-4 --seed=0"; done
  for seed in 3 4 5 6 7 8 9; do for model in lsgan lsgan_reg; do echo "--model=$model --seed=$seed"; done; done
}

merge() {
  # The small results of the grid's runs (never checkpoints) under results/<runs>/<run>/, then
  # the figures and tables from there, so that git holds everything they are drawn from. A run
  # that has not reached its last step gives its epochs so far, not its final samples: those
  # of a shorter run that is being continued (--epochs raised) are not this run's.
  local runs_dir run ckpt samples state
  runs_dir=$(runs_dir)
  states_of_grid
  for entry in "${states[@]}"; do
    IFS=$'\t' read -r run ckpt samples state <<< "$entry"
    case $state in
      new|merged) continue ;;
      training) echo "not merged: $run is being trained now; merge again when it has stopped"; continue ;;
    esac
    mkdir -p "$runs_dir/$run"
    cp "$ckpt"/{run.json,losses.csv,metrics.csv,gradients.csv,classifier.json,train.log} \
      "$runs_dir/$run/" 2>/dev/null || true
    cp "$samples"/{epoch_001.png,epoch_005.png,epoch_010.png,epoch_020.png} \
      "$samples"/samples_1000_epoch_*.npz "$runs_dir/$run/" 2>/dev/null || true
    if [[ $state == finished ]]; then
      cp "$ckpt/final.json" "$samples/final_1000.npz" "$runs_dir/$run/" 2>/dev/null || true
    else
      echo "merged $run up to where it is; not its final samples: it has not reached its last step"
    fi
  done
  # The final samples under the shipped classifier and two others (final_scores.csv beside them).
  if compgen -G "$runs_dir/*/final_1000.npz" > /dev/null; then
    python main.py --mode=rescore "${extra[@]}" --sample_dir="$runs_dir"
  fi
  if [[ -f $grid_name ]]; then  # the figures and tables are drawn from the study's own runs
    echo "merged into $runs_dir and scored; figures: bash run_study.sh --merge (study or mechanism)"
    return
  fi
  local mode=compare seeds=0,1,2,3,4,5,6,7,8,9  # the study's seeds; the mechanism's three
  [[ $grid_kind == mechanism ]] && mode=mechanism seeds=0,1,2
  python main.py --mode=$mode --seeds=$seeds "${extra[@]}" \
    --sample_dir=$runs_dir --checkpoint_dir=$runs_dir --out_dir=results
}

to_do_of_grid() {  # lines=(the grid) and to_do=(1 per line still to train, else 0)
  states_of_grid
  to_do=()
  for entry in "${states[@]}"; do
    [[ $entry == *$'\t'finished || $entry == *$'\t'merged ]] && to_do+=(0) || to_do+=(1)
  done
}

submit() {  # the unfinished lines as one Slurm job array
  command -v sbatch > /dev/null || { echo "error: sbatch not found: is this a Slurm login node?" >&2; exit 2; }
  to_do_of_grid
  local indices=() i
  for i in "${!lines[@]}"; do ((to_do[i])) && indices+=("$i"); done
  if ((${#indices[@]} == 0)); then
    echo "every run of the grid $grid_name has finished: bash run_study.sh --merge $grid_name"; return
  fi
  mkdir -p logs/slurm
  local grid_file suffix= line
  grid_file=logs/slurm/$(basename "$grid_name" .txt)-$(date +%Y%m%d-%H%M%S).grid
  ((${#extra[@]})) && suffix=" ${extra[*]}"
  for line in "${lines[@]}"; do echo "$line$suffix"; done > "$grid_file"  # what the tasks read
  local job
  job=$(IFS=,; sbatch --parsable --job-name="lsgan-$(basename "$grid_name" .txt)" --array="${indices[*]}" --requeue \
    --signal=B:USR1@180 --open-mode=append --output="logs/slurm/%x-%A_%a.log" --chdir="$PWD" \
    "${sbatch_options[@]}" cluster/slurm_task.sh "$grid_file")
  job=${job%%;*}
  echo "submitted job array $job: ${#indices[@]} of ${#lines[@]} lines of $grid_file (the others have finished)"
  echo "logs: logs/slurm/lsgan-$(basename "$grid_name" .txt)-${job}_<task>.log; when squeue -j $job is empty: bash run_study.sh --merge $grid_name"
}

case $action in
  slurm) submit ;;
  list)
    suffix=; ((${#extra[@]})) && suffix=" ${extra[*]}"
    grid | sed "s|^|python main.py |; s|\$|$suffix|" ;;
  merge) merge ;;
  run)
    mkdir -p logs
    to_do_of_grid
    to_train=0; for flag in "${to_do[@]}"; do to_train=$((to_train + flag)); done
    started=$(date +%s); done_runs=0; trained=0; training_secs=0; failed=()
    for line in "${lines[@]}"; do
      if ((!to_do[done_runs])); then  # finished: no need to start TensorFlow to find that out
        echo "== [$((done_runs + 1))/${#lines[@]}] $line  (finished, skipped)"
        done_runs=$((done_runs + 1)); continue
      fi
      eta=""  # from the runs trained in this invocation
      if ((trained > 0)); then
        eta=", about $(( training_secs / trained * (to_train - trained) / 60 )) min left for $((to_train - trained)) runs"
      fi
      echo "== [$((done_runs + 1))/${#lines[@]}] $line  (study: $((($(date +%s) - started) / 60)) min so far$eta)"
      log="logs/$(echo "$line" | tr -d ' -' | tr '=' '_').log"
      run_started=$(date +%s)
      status=0  # main.py's exit code (pipefail: the last non-zero status of the pipe)
      # shellcheck disable=SC2086
      python main.py $line "${extra[@]}" 2>&1 | tee -a "$log" |
        { grep --line-buffered -E 'error:|Finished|nothing to do|metrics:|step [0-9]*000/' || true; } ||
        status=$?
      if ((status == 75 || status > 128)); then  # a signal stopped it (and so the grid)
        echo "stopped by a signal during: $line; the same command resumes" >&2
        exit "$status"
      fi
      ((status)) && failed+=("$line (exit $status; its log: $log)")
      trained=$((trained + 1)); training_secs=$((training_secs + $(date +%s) - run_started))
      done_runs=$((done_runs + 1))
    done
    if ((${#failed[@]})); then  # the other runs went on; nothing is merged until all succeed
      echo "error: ${#failed[@]} of ${#lines[@]} runs failed, not merged:" >&2
      printf '  %s\n' "${failed[@]}" >&2
      exit 1
    fi
    merge ;;
esac
