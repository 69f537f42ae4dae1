#!/usr/bin/env bash
# One task of the job array that `run_study.sh --slurm` submits: trains line
# SLURM_ARRAY_TASK_ID + 1 of the grid file it is given, with --threads from --cpus-per-task.
# - Slurm's warning ahead of the time limit (SIGUSR1 to this script, from --signal=B:USR1@...)
#   becomes SIGTERM to main.py, which saves at the step it reached and exits 75; the task then
#   requeues itself, and its next start resumes from that checkpoint. So a grid whose runs are
#   longer than the partition's time limit still completes.
# - Preemption and `scontrol requeue` send SIGTERM to main.py (and this script): it saves and
#   exits 75, and Slurm starts the task again later (submitted with --requeue).
# - `scancel` also ends with a saved checkpoint; nothing requeues it.
set -uo pipefail
grid_file=$1
line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$grid_file")
if [[ -z $line ]]; then
  echo "error: $grid_file has no line $((SLURM_ARRAY_TASK_ID + 1))" >&2
  exit 2
fi
echo "== $(date '+%F %T') task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID, start $((${SLURM_RESTART_COUNT:-0} + 1)), on $(hostname): $line"
time_limit_near=0
stop_run() { kill -TERM "$run" 2>/dev/null; }
trap 'time_limit_near=1; stop_run' USR1
trap stop_run TERM INT
# shellcheck disable=SC2086  # a grid line is flags separated by spaces
python main.py --threads="${SLURM_CPUS_PER_TASK:-0}" $line &
run=$!
while kill -0 "$run" 2>/dev/null; do wait "$run"; done  # a trapped signal interrupts `wait`
wait "$run"
status=$?
if ((time_limit_near && status == 75)); then
  # By array and task index: one task's SLURM_JOB_ID is the array's own ID, which scontrol
  # reads as "every task", and would requeue the running and finished siblings too.
  task="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
  echo "== $(date '+%F %T') time limit near: checkpoint saved, requeueing task $task"
  scontrol requeue "$task" || echo "error: scontrol could not requeue $task; submit the grid again" >&2
fi
exit "$status"
