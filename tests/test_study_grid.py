"""The study's grid as run_study.sh lists, runs and merges it: the lines are the study's, each
names a run that the comparison reads, a failing run is reported, and the merge copies the
study's small results (never a mechanism run's) to results/runs/ and draws from there."""
import json
import os
import shutil
import subprocess

import numpy as np

import config
import flags
import registry
import train
import utils
from studies import compare
from conftest import ROOT

HEADLINE = ('lsgan', 'lsgan_reg')
STUDY = ([f'--model={m} --seed=0' for m in registry.MODELS]
         + [f'--model={m} --seed={s}' for s in (1, 2) for m in HEADLINE]
         + [f'--model={m} --protocol=paper --seed=0' for m in ('wgan', 'wgan_gp')]
         + [f'--model=ralsgan --seed={s}' for s in (1, 2)]
         + ['--model=ralsgan --protocol=paper --seed=0']
         + [f'--model={m} --protocol=paper --lr=2e-4 --seed=0' for m in HEADLINE]
         + [f'--model={m} --seed={s}' for s in range(3, 10) for m in HEADLINE])


def listed(*args):
    return subprocess.run(['bash', str(ROOT / 'run_study.sh'), '--list', *args],
                          capture_output=True, text=True, check=True).stdout.splitlines()


def test_the_runner_lists_exactly_the_studys_lines():
    assert listed() == [f'python main.py {line}' for line in STUDY]
    assert listed('study', '--', '--threads=1') == [f'python main.py {line} --threads=1' for line in STUDY]


def test_every_study_run_is_one_the_comparison_reads():
    base = config.Config()
    read = {run for seed in range(10) for run in compare.runs_of(base, seed).values()}
    read |= {config.run_name(base.under(p, m)) for p in registry.PROTOCOLS for m in registry.MODELS}
    protocol, owner = compare.RELATIVE_SCHEME
    read |= {config.run_name(base.replace(protocol=protocol, model=m, **registry.scheme(protocol, owner)))
             for m in (*compare.FIGURE2_MODELS, owner)}
    names = [config.run_name(flags.config_of(['main.py', *line.split()])) for line in STUDY]
    assert len(set(names)) == len(names) and set(names) <= read


def copy_project(tmp_path):
    """The code run_study.sh runs, copied to tmp_path (whose results/ is then the copy's own),
    with the shipped data linked."""
    for path in [*ROOT.glob('*.py'), ROOT / 'run_study.sh']:
        shutil.copy(path, tmp_path)
    shutil.copytree(ROOT / 'studies', tmp_path / 'studies', ignore=shutil.ignore_patterns('__pycache__'))
    (tmp_path / 'data').symlink_to(ROOT / 'data')


def fake_finished(run_dir, steps_per_epoch=937, step=18740):
    """A run directory that train.finished takes for a run trained to `step`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / 'checkpoint').write_text(f'model_checkpoint_path: "ckpt-{step}"\n')
    (run_dir / f'ckpt-{step}.index').write_bytes(b'')
    (run_dir / 'run.json').write_text(json.dumps({'steps_per_epoch': steps_per_epoch}))


def test_a_failing_run_is_named_the_others_go_on_and_nothing_is_merged(tmp_path):
    copy_project(tmp_path)
    extra = ['--gf_dim=4', '--df_dim=4', '--max_steps=2', '--eval_every=0', '--sample_size=4',
             '--nodownload', f'--checkpoint_dir={tmp_path / "checkpoints"}',
             f'--sample_dir={tmp_path / "samples"}']
    configs = [flags.config_of(['main.py', *line.split(), *extra]) for line in STUDY]
    for cfg in configs[2:]:
        fake_finished(tmp_path / 'checkpoints' / config.run_name(cfg))
    locked = tmp_path / 'checkpoints' / config.run_name(configs[0])
    locked.mkdir(parents=True)
    (locked / 'lock').write_text(f'{os.getpid()}\n')  # "trained" by this live process
    done = subprocess.run(['bash', str(tmp_path / 'run_study.sh'), '--', *extra],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert 'error: 1 of 32 runs failed, not merged:' in done.stderr
    assert f'  {STUDY[0]} (exit 2; its log: logs/' in done.stderr
    assert train.finished(configs[1])  # the line after the failed one trained
    assert not (tmp_path / 'results').exists()


def fake_progress(ckpt, samples, steps, rng):
    """What a run on 2 steps per epoch leaves after `steps` steps: logs, a final_1000.npz and
    final.json (as a shorter run it continues left them), and early samples and grids."""
    utils.write_csv(ckpt / 'losses.csv', ['step', 'epoch', 'd_loss', 'g_loss', 'wall_s'],
                    [{'step': s, 'epoch': (s + 1) // 2, 'd_loss': 0.5, 'g_loss': 0.4, 'wall_s': s}
                     for s in range(1, steps + 1)])
    utils.write_csv(ckpt / 'metrics.csv', ['step', 'epoch', 'fid', 'classifier_score', 'coverage'],
                    [{'step': 2, 'epoch': 1, 'fid': 40.0, 'classifier_score': 8.0, 'coverage': 0.5}])
    for name in ('final.json', 'classifier.json'):
        (ckpt / name).write_text('{}')
    (ckpt / 'train.log').write_text('Finished\n')
    (ckpt / f'ckpt-{steps}.data-00000-of-00001').write_bytes(b'weights')
    for name in ('final_1000.npz', 'samples_1000_epoch_001.npz'):
        train.save_samples(rng.uniform(-1, 1, (1000, 28, 28, 1)), samples / name)
    for epoch in (1, 2, 20):  # epoch 2's grid is not merged
        utils.save_grid(rng.uniform(-1, 1, (4, 28, 28, 1)), samples / f'epoch_{epoch:03d}.png')


def test_merge_copies_the_study_runs_small_results_and_draws_from_them(tmp_path):
    """A finished run is merged whole; one still short of its 20 epochs (a 5-epoch stage being
    continued) without the final samples of the shorter run; one being trained not at all."""
    copy_project(tmp_path)
    run, started, training = (config.run_name(config.Config(model='lsgan', seed=seed)) for seed in (0, 1, 2))
    rng = np.random.default_rng(0)
    for name, steps in ((run, 40), (started, 10), (training, 10)):
        ckpt, samples = tmp_path / 'checkpoints' / name, tmp_path / 'samples' / name
        fake_finished(ckpt, steps_per_epoch=2, step=steps)
        fake_progress(ckpt, samples, steps, rng)
    (tmp_path / 'checkpoints' / training / 'lock').write_text(f'{os.getpid()}\n')
    mechanism_run = tmp_path / 'checkpoints' / 'lsgan_a-1_b1_c1_n10000_seed0'
    mechanism_run.mkdir()
    (mechanism_run / 'run.json').write_text('{}')
    done = subprocess.run(['bash', str(tmp_path / 'run_study.sh'), '--merge', '--', '--classifier_seeds=0'],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f'not merged: {training} is being trained now' in done.stdout
    runs = tmp_path / 'results' / 'runs'
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == [run, started]
    progress = ['run.json', 'losses.csv', 'metrics.csv', 'classifier.json', 'train.log',
                'epoch_001.png', 'epoch_020.png', 'samples_1000_epoch_001.npz']
    assert sorted(p.name for p in (runs / run).iterdir()) == sorted(progress + ['final.json', 'final_1000.npz'])
    assert sorted(p.name for p in (runs / started).iterdir()) == sorted(progress)
    scored = {r['run'] for r in utils.read_csv(runs / 'final_scores.csv')}
    assert scored - {'real_digits'} == {run}  # and the real-data floor
    assert f'| {run} | 0 |' in (tmp_path / 'results' / 'RESULTS.md').read_text()
