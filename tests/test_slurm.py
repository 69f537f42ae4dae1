"""The study on a real Slurm: run_study.sh --slurm submits a grid as a job array to a one-node
cluster started here from Debian's packages (slurm-wlm, munge); one task is preempted
(`scontrol requeue`), the other gets the warning ahead of its time limit (SIGUSR1 to its batch
script); both resume from their SIGTERM checkpoints, and the merged results equal the same grid
run here in one go."""
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import utils
from conftest import ROOT
from test_study_grid import copy_project

DAEMONS = ('munged', 'slurmctld', 'slurmd', 'sbatch', 'scontrol', 'squeue')
STEPS, PREEMPTED_AFTER = 400, 50  # steps of 20 a tiny epoch; preempted after this step
TINY = ('--gf_dim=8 --df_dim=8 --sample_size=4 --train_size=1000 --batch_size=50 '
        f'--epochs={STEPS // 20} --checkpoint_every=10 --eval_every=0 --nodownload --deterministic')
GRID = [f'--model=lsgan --seed=0 {TINY}', f'--model=lsgan_reg --seed=0 {TINY}']
RUNS = ['lsgan_a-1_b1_c0_n1000_seed0', 'lsgan_reg_a-1_b1_c0_lam0.5_n1000_seed0']


def free_ports(count):
    """Ports nothing listens on now: a daemon left behind by an interrupted earlier run (whose
    pytest was killed before its fixture could stop it) must not make this cluster fail to bind."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(('', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def slurm_conf(root, host, ctld_port, slurmd_port):
    return f'''ClusterName=lsgan-test
SlurmctldHost={host}
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=30
NodeName={host} CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
'''


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    """A one-node Slurm of its own (munged, slurmctld, slurmd; state in a temporary folder):
    the environment that points sbatch, squeue and scontrol at it. Stopped afterwards."""
    missing = [name for name in DAEMONS if not shutil.which(name)]
    if missing:
        pytest.skip(f'{", ".join(missing)} not installed (apt-get install slurm-wlm munge; '
                    '.ci/run does)')
    if os.geteuid() != 0:
        pytest.skip('starting slurmd needs root')
    root = tmp_path_factory.mktemp('slurm')
    for name in ('state', 'spool'):
        (root / name).mkdir()
    (root / 'munge.key').write_bytes(os.urandom(1024))
    (root / 'munge.key').chmod(0o600)
    (root / 'slurm.conf').write_text(slurm_conf(root, socket.gethostname(), *free_ports(2)))
    env = {**os.environ, 'SLURM_CONF': str(root / 'slurm.conf')}
    subprocess.run(['munged', '--force', f'--socket={root}/munge.socket',
                    f'--key-file={root}/munge.key', f'--pid-file={root}/munged.pid',
                    f'--log-file={root}/munged.log', f'--seed-file={root}/munged.seed'], check=True)
    try:
        for daemon in ('slurmctld', 'slurmd'):
            subprocess.run([daemon], env=env, check=True)
        deadline = time.monotonic() + 60
        while 'idle' not in subprocess.run(['sinfo', '-h', '-o', '%t'], env=env,
                                           capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, (root / 'slurmctld.log').read_text()[-2000:]
            time.sleep(0.5)
        yield env
    finally:
        for pid_file in ('slurmd.pid', 'slurmctld.pid', 'munged.pid'):
            if (root / pid_file).exists():
                subprocess.run(['kill', (root / pid_file).read_text().strip()])


def queue(env, job):
    """{task: (state, reason)} of the job array's tasks still in the queue. squeue fails (and
    prints nothing) while slurmctld is busy, e.g. with a requeue; an empty answer then would
    read as "all tasks done", so it is asked again."""
    for _ in range(60):
        done = subprocess.run(['squeue', '-h', '-r', '-j', job, '-o', '%K %T %r'], env=env,
                              capture_output=True, text=True)
        if done.returncode == 0:
            break
        time.sleep(1)
    else:
        raise RuntimeError(f'squeue kept failing: {done.stderr.strip()}')
    out = done.stdout
    return {int(task): (state, reason) for task, state, reason in
            (line.split() for line in out.splitlines())}


def test_a_grid_on_slurm_survives_preemption_and_the_time_limit(slurm, tmp_path):
    project = tmp_path / 'project'
    project.mkdir()
    copy_project(project)
    shutil.copytree(ROOT / 'cluster', project / 'cluster')
    (project / 'grid.txt').write_text('# two tiny runs\n' + '\n'.join(GRID) + '\n')
    submitted = subprocess.run(['bash', 'run_study.sh', '--slurm', 'grid.txt', '--cpus-per-task=1'],
                               cwd=project, env=slurm, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.split('submitted job array ')[1].split(':')[0]
    assert '2 of 2 lines' in submitted.stdout

    def checkpoints(run):
        return sorted(int(p.name[5:-6]) for p in (project / 'checkpoints' / run).glob('ckpt-*.index'))

    deadline = time.monotonic() + 300
    while not all(checkpoints(run) and checkpoints(run)[-1] >= PREEMPTED_AFTER for run in RUNS):
        assert time.monotonic() < deadline and len(queue(slurm, job)) == 2, 'the tasks did not start'
        time.sleep(0.05)
    subprocess.run(['scontrol', 'requeue', f'{job}_0'], env=slurm, check=True)  # preempted
    subprocess.run(['scancel', '--batch', '--signal=USR1', f'{job}_1'], env=slurm,
                   check=True)  # what --signal=B:USR1@180 sends ahead of the time limit
    deadline = time.monotonic() + 600
    hurried = {}  # task: when its hold was last shortened
    while tasks := queue(slurm, job):
        assert time.monotonic() < deadline, tasks
        for task, (state, reason) in tasks.items():
            # Slurm holds a requeued task ~2 min; shortened to 2 s, not to "now": slurmd refuses
            # a start in the same second as the requeue that revoked the task's credential.
            if state == 'PENDING' and reason == 'BeginTime' and time.monotonic() - hurried.get(task, -9) > 5:
                subprocess.run(['scontrol', 'update', f'JobId={job}_{task}', 'StartTime=now+2'],
                               env=slurm)
                hurried[task] = time.monotonic()
        time.sleep(0.5)

    for task, run in enumerate(RUNS):
        log = (project / 'logs' / 'slurm' / f'lsgan-grid-{job}_{task}.log').read_text()
        stops = [line for line in log.splitlines() if 'SIGTERM at step' in line]
        assert len(stops) == 1, log[-3000:]  # the one the test caused: no sibling's requeue
        assert not [line for line in log.splitlines() if line.startswith('error')], log[-3000:]
        step = int(stops[0].split(' at step ')[1].split()[0])
        assert PREEMPTED_AFTER <= step < STEPS
        assert f'Resuming {run} from step {step} ' in log
        assert f'Finished {run}' in log and log.count(f'task {task} of job {job}, start ') == 2
        if task == 1:
            assert f'time limit near: checkpoint saved, requeueing task {job}_1' in log

    merged = subprocess.run(['bash', 'run_study.sh', '--merge', 'grid.txt', '--', '--classifier_seeds=0'],
                            cwd=project, env=slurm, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr[-3000:]
    here = tmp_path / 'here'
    for line in GRID:  # the same grid, in one go on this machine
        subprocess.run([sys.executable, 'main.py', *line.split(), '--threads=1',
                        f'--checkpoint_dir={here}/c', f'--sample_dir={here}/s'],
                       cwd=project, env=slurm, check=True, capture_output=True)
    for run in RUNS:
        results = project / 'results' / 'runs' / run
        assert np.array_equal(np.load(results / 'final_1000.npz')['x'],
                              np.load(here / 's' / run / 'final_1000.npz')['x'])
        for grid in ('epoch_001.png', 'epoch_020.png'):
            assert (results / grid).read_bytes() == (here / 's' / run / grid).read_bytes()
        for name in ('losses.csv', 'gradients.csv'):
            ours = [{k: v for k, v in row.items() if k != 'wall_s'} for row in utils.read_csv(results / name)]
            assert ours == [{k: v for k, v in row.items() if k != 'wall_s'}
                            for row in utils.read_csv(here / 'c' / run / name)], name
        assert len(utils.read_csv(results / 'losses.csv')) == STEPS
