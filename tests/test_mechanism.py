"""The mechanism experiment: its grid names the runs its table reads, and the table is the
mean and spread of what those runs logged."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import config
import flags
import train
import utils
from studies import mechanism
from conftest import ROOT
from test_study_grid import copy_project


def parsed(line):
    try:
        flags.parse_or_exit(['main.py', *line.split()])
        return flags.to_config()
    finally:
        flags.FLAGS.unparse_flags()


def test_every_grid_line_trains_the_run_the_table_reads():
    lines = mechanism.grid_lines()
    assert len(lines) == len(mechanism.arms()) * len(mechanism.SEEDS) == 45
    names = [config.run_name(parsed(line)) for line in lines]
    assert names == [config.run_name(mechanism.run_config(arm, seed))  # the runs the table reads
                     for seed in mechanism.SEEDS for arm in mechanism.arms()]
    assert len(set(names)) == len(names)
    cfg = parsed(lines[2])  # LSGAN, (-1, 1, 0), no batch norm in D
    assert (cfg.model, cfg.c, cfg.critic_norm, cfg.train_size, cfg.epochs) == (
        'lsgan', 0.0, 'none', 10000, 10)


def test_the_runner_lists_the_same_grid():
    listed = subprocess.run(['bash', str(ROOT / 'run_study.sh'), '--list', 'mechanism'],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert listed == [f'python main.py {line}' for line in mechanism.grid_lines()]
    with_extra = subprocess.run(
        ['bash', str(ROOT / 'run_study.sh'), '--list', 'mechanism', '--', '--threads=2'],
        capture_output=True, text=True, check=True).stdout.splitlines()
    assert with_extra == [f'{line} --threads=2' for line in listed]


def write_scores(cfg, arm, seed, fid, score):
    run_dir = f'{cfg.checkpoint_dir}/{config.run_name(mechanism.run_config(arm, seed, cfg))}'
    rows = [{'step': 156 * e, 'epoch': e, 'fid': fid + (10 if e < 10 else 0),
             'classifier_score': score, 'precision': 0.5, 'recall': 0.6, 'coverage': 0.7}
            for e in (5, 10)]
    utils.write_csv(f'{run_dir}/metrics.csv', ['step', 'epoch', *mechanism.COLUMNS], rows)
    (Path(run_dir) / 'classifier.json').write_text(json.dumps(
        {'real_floor': dict.fromkeys(mechanism.COLUMNS, 0.25)}))


def test_table_is_mean_and_std_over_seeds_at_the_last_epoch(tiny_config, tmp_path):
    cfg = tiny_config(mode='mechanism', seeds=(0, 1, 2), out_dir=str(tmp_path / 'out'))
    first, second = mechanism.arms()[:2]
    fids = [30.0, 40.0, 44.0]
    for seed, fid in enumerate(fids):
        write_scores(cfg, first, seed, fid, 8.0)
    write_scores(cfg, second, 1, 50.0, 7.0)
    mechanism.draw(cfg)
    page = (tmp_path / 'out' / 'mechanism' / 'MECHANISM.md').read_text()
    summary = page.split('The FID of each run')[0]
    rows = {line.split(' | ')[0].lstrip('| '): line for line in summary.splitlines()}
    assert rows[first.label].startswith(
        f'| {first.label} | 3 | {np.mean(fids):.3g} +- {np.std(fids, ddof=1):.2g} | 8 +- 0 |')
    assert rows[second.label].startswith(f'| {second.label} | 1 | 50 |')
    assert rows[mechanism.arms()[-1].label].startswith(f'| {mechanism.arms()[-1].label} | 0 |')
    assert '| *real digits (floor)* | | 0.25 |' in page
    assert (tmp_path / 'out' / 'mechanism' / 'mechanism.png').stat().st_size > 0


def test_paired_table_is_each_regularized_arm_minus_its_lsgan_within_a_seed(tiny_config, tmp_path):
    cfg = tiny_config(mode='mechanism', seeds=(0, 1, 2), out_dir=str(tmp_path / 'out'))
    lsgan, regularized = mechanism.arms()[:2]
    lam2 = next(arm for arm in mechanism.arms() if arm.lam == 2.0)
    for seed, fid in enumerate([30.0, 40.0, 44.0]):
        write_scores(cfg, lsgan, seed, fid, 8.0)
    for seed, fid in enumerate([20.0, 38.0]):  # seed 2 unfinished: no pair
        write_scores(cfg, regularized, seed, fid, 8.0)
    write_scores(cfg, lam2, 2, 50.0, 8.0)
    final = Path(cfg.checkpoint_dir) / config.run_name(mechanism.run_config(lam2, 2, cfg))
    (final / 'final.json').write_text(json.dumps({'fid': 50.0, 'fid_second_z': 53.5}))
    mechanism.draw(cfg)
    page = (tmp_path / 'out' / 'mechanism' / 'MECHANISM.md').read_text()
    assert f'| {regularized.label} | -10 | -2 |  | -6 | 2 of 2 |' in page
    assert f'| {lam2.label} |  |  | +6 | +6 | 0 of 1 |' in page
    no_runs = mechanism.arms()[5]  # the regularized LSGAN at (-1, 1, 1) with batch norm
    assert f'| {no_runs.label} |  |  |  |  |  |' in page
    assert '| *all pairs* |  |  |  | -2 | 2 of 3 |' in page
    assert f'| {lsgan.label} | 30.0 | 40.0 | 44.0 | 14.0 |' in page
    assert f'| {lam2.label} |  |  | 50.0 |  |' in page
    assert f'| {lsgan.label} | ' not in page.split('minus FID of LSGAN')[1]
    assert ('FID noise level: |FID(z set 1) - FID(z set 2)| of the final G, mean 3.5, '
            'largest 3.5 over 1 runs') in page


def test_final_sample_pairs_under_each_classifier(tiny_config, tmp_path):
    """Per regularized arm and classifier: the mean of regularized - LSGAN over seeds, the seeds
    where it is lower and the exact Wilcoxon p (3 of 3 of one sign: 2 / 2^3 = 0.25)."""
    cfg = tiny_config(mode='mechanism', seeds=(0, 1, 2))
    reg = next(arm for arm in mechanism.arms() if arm.model == 'lsgan_reg')
    base = reg._replace(model='lsgan', lam=config.Config.lam)
    fids = {}
    for seed, (under0, under1) in enumerate([(-3.0, 1.0), (-1.0, -2.0), (-2.0, -4.0)]):
        fids[config.run_name(mechanism.run_config(base, seed, cfg))] = (30.0, 30.0)
        fids[config.run_name(mechanism.run_config(reg, seed, cfg))] = (30.0 + under0, 30.0 + under1)
    path = tmp_path / 'final_scores.csv'
    utils.write_csv(path, ['run', 'classifier', 'classifier_test_accuracy', 'fid'],
                    [{'run': run, 'classifier': c, 'classifier_test_accuracy': 0.99, 'fid': f[c]}
                     for run, f in fids.items() for c in (0, 1)])
    table = mechanism.final_sample_pairs(cfg, path)
    assert f'| {reg.label} | -2, 3 of 3, 0.25 | -1.67, 2 of 3, 0.5 |' in table  # W+ = 1: {} {1}: 2*2/8
    assert '| *arms lower in every seed under every classifier* | 0 of 9 | |' in table
    assert mechanism.final_sample_pairs(cfg, tmp_path / 'missing.csv') == ''


def test_no_finished_run_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / 'main.py'), '--mode=mechanism',
                           f'--checkpoint_dir={tmp_path}', f'--out_dir={tmp_path}'],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert 'error: no mechanism run' in done.stderr.strip().splitlines()[-1]


def test_merge_copies_each_grids_runs_to_its_own_results(tmp_path):
    """`run_study.sh --merge mechanism` takes the mechanism runs (and only them) from
    checkpoints/ and samples/ into results/mechanism/runs/ and draws the table from there."""
    copy_project(tmp_path)
    cfg = config.Config(checkpoint_dir=str(tmp_path / 'checkpoints'), seeds=mechanism.SEEDS)
    arm = mechanism.arms()[0]
    write_scores(cfg, arm, 0, 30.0, 8.0)
    study_run = tmp_path / 'checkpoints' / 'lsgan_a-1_b1_c0_seed0'
    study_run.mkdir()
    (study_run / 'run.json').write_text('{}')
    subprocess.run(['bash', str(tmp_path / 'run_study.sh'), '--merge', 'mechanism'],
                   capture_output=True, text=True, check=True)
    copied = tmp_path / 'results' / 'mechanism' / 'runs'
    assert [p.name for p in copied.iterdir()] == [config.run_name(mechanism.run_config(arm, 0))]
    assert not (tmp_path / 'results' / 'runs').exists()
    assert f'| {arm.label} | 1 | 30 |' in (tmp_path / 'results' / 'mechanism' / 'MECHANISM.md').read_text()


def test_the_runner_trains_only_the_unfinished_lines_then_merges(tmp_path):
    """`bash run_study.sh mechanism` skips finished runs without starting them, trains the one
    that is not finished (here for two steps of tiny networks) and merges the table."""
    copy_project(tmp_path)
    extra = ['--gf_dim=4', '--df_dim=4', '--max_steps=2', '--eval_every=0', '--sample_size=4',
             '--nodownload', f'--checkpoint_dir={tmp_path / "checkpoints"}',
             f'--sample_dir={tmp_path / "samples"}']
    lines = mechanism.grid_lines()
    configs = [flags.config_of(['main.py', *line.split(), *extra]) for line in lines]
    base = config.Config(checkpoint_dir=str(tmp_path / 'checkpoints'))
    arm_seeds = [(arm, seed) for seed in mechanism.SEEDS for arm in mechanism.arms()]
    merged = config.Config(checkpoint_dir=str(tmp_path / 'results' / 'mechanism' / 'runs'))
    for i, (arm, seed) in enumerate(arm_seeds[1:], start=1):  # line 0 stays unfinished
        if i == 1:  # finished on another machine: only its merged results are here
            write_scores(merged, arm, seed, 30.0, 8.0)
            run_dir = Path(merged.checkpoint_dir) / config.run_name(configs[i])
            utils.write_csv(run_dir / 'losses.csv', ['step', 'epoch'], [{'step': 2, 'epoch': 1}])
        else:
            write_scores(base, arm, seed, 30.0, 8.0)
            run_dir = tmp_path / 'checkpoints' / config.run_name(configs[i])
            (run_dir / 'checkpoint').write_text('model_checkpoint_path: "ckpt-2"\n')
            (run_dir / 'ckpt-2.index').write_bytes(b'')
        (run_dir / 'run.json').write_text(json.dumps({'steps_per_epoch': 156}))
    assert not train.finished(configs[0]) and train.finished(configs[2])
    assert not train.finished(configs[1]) and train.merged(configs[1], merged.checkpoint_dir)
    assert not train.merged(configs[1].replace(max_steps=3), merged.checkpoint_dir)  # trains on
    done = subprocess.run(['bash', str(tmp_path / 'run_study.sh'), 'mechanism', '--', *extra],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    progress = [line for line in done.stdout.splitlines() if line.startswith('== [')]
    assert len(progress) == 45
    assert [line.endswith('(finished, skipped)') for line in progress] == [False] + [True] * 44
    assert progress[0].startswith(f'== [1/45] {lines[0]}')
    assert train.finished(configs[0])
    merged_log = tmp_path / 'results' / 'mechanism' / 'runs' / config.run_name(configs[0]) / 'train.log'
    assert merged_log.read_text().count('Finished ') == 1
    page = (tmp_path / 'results' / 'mechanism' / 'MECHANISM.md').read_text()
    first = mechanism.arms()[0]
    assert f'| {first.label} | 2 | 30 +- 0 |' in page  # seed 0 trained without metrics


if __name__ == '__main__':
    sys.exit(pytest.main([__file__]))
