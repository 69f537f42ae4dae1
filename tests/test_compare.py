"""--mode=compare draws its figures and tables from what runs leave on disk."""
import json

import imageio.v3 as iio
import numpy as np
import pytest

import config
import flags
import registry
import utils
from studies import compare
from studies import paired


def fake_run(cfg, run, epochs=2, fid=10.0):
    for epoch in range(1, epochs + 1):
        utils.save_grid(np.full((4, 28, 28, 1), epoch / epochs - 0.5),
                        f'{cfg.sample_dir}/{run}/epoch_{epoch:03d}.png')
    ckpt = f'{cfg.checkpoint_dir}/{run}'
    utils.write_csv(f'{ckpt}/losses.csv', ['step', 'epoch', 'd_loss', 'g_loss', 'wall_s'],
                    [{'step': s, 'epoch': (s + 1) // 2, 'd_loss': 1 / s, 'g_loss': s,
                      'wall_s': s * 0.5} for s in range(1, 2 * epochs + 1)])
    utils.write_csv(f'{ckpt}/gradients.csv', ['step', 'epoch', 'g_grad_norm', 'd_grad_x_norm'],
                    [{'step': s, 'epoch': (s + 1) // 2, 'g_grad_norm': 1 / s, 'd_grad_x_norm': s}
                     for s in range(1, 2 * epochs + 1)])
    utils.write_csv(f'{ckpt}/metrics.csv', ['step', 'epoch', *compare.TABLE_METRICS],
                    [{'step': 2 * e, 'epoch': e, **dict.fromkeys(compare.TABLE_METRICS, fid + e)}
                     for e in range(1, epochs + 1)])
    (utils.Path(ckpt) / 'final.json').write_text(json.dumps({'fid': fid, 'fid_second_z': fid + 1.5}))
    (utils.Path(ckpt) / 'classifier.json').write_text(json.dumps(
        {'test_accuracy': 0.99, 'real_floor': dict.fromkeys(compare.TABLE_METRICS, 0.5)}))


def test_compare_draws_every_model_of_the_registry(tiny_config, tmp_path):
    cfg = tiny_config(mode='compare', epochs=2, figure2_epochs=(1, 2), out_dir=str(tmp_path / 'out'))
    for model in registry.MODELS:
        fake_run(cfg, config.run_name(cfg, model=model))
    compare.draw(cfg)
    out = tmp_path / 'out'
    for path in (out / 'seed0' / 'figure1.png', out / 'seed0' / 'figure2.png',
                 out / 'seed0' / 'losses.png', out / 'seed0' / 'gradients.png',
                 out / 'metrics.png'):
        image = iio.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.std() > 0
    assert iio.imread(out / 'seed0' / 'lsgan_reg.gif').shape[0] == 2  # one frame per epoch
    page = (out / 'RESULTS.md').read_text()
    for spec in registry.MODELS.values():
        assert f'| {spec.label} | 1 |' in page
    assert '*real digits (floor)*' in page and 'mean 1.5, largest 1.5' in page
    # Per-epoch FIDs of seed 0 (fid + epoch in fake_run) and each run's steps and wall time.
    assert '| 2 | ' + ' | '.join(['12'] * len(registry.MODELS)) + ' |' in page
    assert (f'| {config.run_name(cfg, model="lsgan")} | 0 | 4 | 2 | 2 s | 0 s | 0.500 s | '
            'not recorded | 0.9900 / 0.5 |') in page
    assert 'different digit classifiers' not in page  # one classifier scored every run


def test_results_table_is_mean_and_std_over_seeds(tiny_config):
    cfg = tiny_config()
    runs_by_seed = {}
    for seed, fid in ((0, 10.0), (1, 14.0)):
        runs_by_seed[seed] = {m: f'{m}_seed{seed}' for m in registry.MODELS}
        fake_run(cfg, f'lsgan_seed{seed}', fid=fid)
    table = compare.results_table(runs_by_seed, cfg.checkpoint_dir, epoch=2)
    assert '| LSGAN | 2 | 14 +- 2.8 |' in table  # fid + epoch: 12 and 16
    assert '| WGAN | 0 |' in table


def test_compare_names_the_missing_grids(tiny_config, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        compare.draw(tiny_config(mode='compare', epochs=2, out_dir=str(tmp_path / 'out')))
    assert stop.value.code == 2
    assert 'missing sample grids' in capsys.readouterr().err


def test_a_partial_study_draws_the_models_it_has(tiny_config, tmp_path):
    cfg = tiny_config(mode='compare', epochs=2, figure2_epochs=(1, 2), out_dir=str(tmp_path / 'out'))
    for model in ('lsgan', 'lsgan_reg'):
        fake_run(cfg, config.run_name(cfg, model=model))
    compare.draw(cfg)
    assert iio.imread(tmp_path / 'out' / 'seed0' / 'figure1.png').shape[1] < 700  # two panels
    assert '| WGAN | 0 |' in (tmp_path / 'out' / 'RESULTS.md').read_text()


def test_a_model_keeps_its_colour_whichever_models_a_figure_shows(tiny_config, monkeypatch):
    cfg = tiny_config()
    figures = []
    monkeypatch.setattr(utils, 'save_figure', lambda fig, path: figures.append(fig))
    for models in (('lsgan', 'ralsgan'), ('ralsgan',), ('gan', 'wgan', 'ralsgan')):
        runs = {model: config.run_name(cfg, model=model) for model in models}
        for run in runs.values():
            fake_run(cfg, run)
        compare.gradient_curves(runs, cfg.checkpoint_dir, 'gradients.png')
        compare.metric_curves({0: runs}, cfg.checkpoint_dir, 'metrics.png')
    colours_by_label = {}
    for figure in figures:
        for line in figure.axes[0].get_lines():
            colours_by_label.setdefault(line.get_label(), set()).add(line.get_color())
    assert set(colours_by_label) == {'LSGAN', 'RaLSGAN', 'Vanilla GAN', 'WGAN'}
    assert all(len(colours) == 1 for colours in colours_by_label.values())
    assert len({compare.colour(model) for model in registry.MODELS}) == len(registry.MODELS)


def test_a_seed_starts_the_paired_models_from_the_same_weights(tiny_config, tmp_path):
    """What makes the seed-by-seed tables paired comparisons."""
    import train
    weights = {}
    for model, seed in (('lsgan', 0), ('lsgan_reg', 0), ('ralsgan', 0), ('lsgan_reg', 1)):
        cfg = tiny_config(model=model, seed=seed)
        players = train.restore_state(cfg, tmp_path / f'{model}{seed}').players
        weights[model, seed] = [w.numpy() for w in players.G.all_weights + players.D.all_weights]
    for model in ('lsgan_reg', 'ralsgan'):
        for same, other in zip(weights['lsgan', 0], weights[model, 0], strict=True):
            np.testing.assert_array_equal(same, other)
    assert any((a != b).any() for a, b in zip(weights['lsgan_reg', 0], weights['lsgan_reg', 1]))


def test_paired_fids_are_each_seeds_differences(tiny_config):
    cfg = tiny_config()
    fids = {(0, 'lsgan'): 30.0, (0, 'lsgan_reg'): 25.0, (1, 'lsgan'): 20.0, (1, 'lsgan_reg'): 24.0}
    runs_by_seed = {seed: {m: f'{m}_seed{seed}' for m in registry.MODELS} for seed in (0, 1, 2)}
    for (seed, model), fid in fids.items():
        fake_run(cfg, f'{model}_seed{seed}', epochs=3, fid=fid)  # logs fid + epoch at each epoch
    fake_run(cfg, 'lsgan_seed2', epochs=3)  # seed 2 has no regularized run: not a pair
    table = compare.paired_fids(runs_by_seed, cfg.checkpoint_dir, epoch=3)
    assert '| 0 | 33 | 28 | 5 | 3 of 3 |' in table
    assert '| 1 | 23 | 27 | -4 | 0 of 3 |' in table
    differences = np.array([5.0, -4.0])
    assert (f'| mean +- std, n = 2 | 28 +- 7.1 | 27.5 +- 0.71 | {differences.mean():.3g} +- '
            f'{differences.std(ddof=1):.2g}; positive in 1 of 2 | 3 of 6 |') in table
    assert compare.paired_fids(runs_by_seed, cfg.checkpoint_dir, epoch=4) == ''
    fake_run(cfg, 'ralsgan_seed0', epochs=3, fid=40.0)  # another pair: LSGAN against RaLSGAN
    table = compare.paired_fids(runs_by_seed, cfg.checkpoint_dir, 3, ('lsgan', 'ralsgan'))
    assert '| seed | LSGAN | RaLSGAN | difference | epochs where RaLSGAN is lower |' in table
    assert '| 0 | 33 | 43 | -10 | 0 of 3 |' in table
    assert 'n = 1 |' in table  # seeds 1 and 2 have no RaLSGAN run


def test_paired_differences_give_every_epoch_of_every_pair(tiny_config, tmp_path):
    cfg = tiny_config()
    runs_by_seed = {seed: {m: f'{m}_seed{seed}' for m in registry.MODELS} for seed in (0, 1, 2, 3)}
    fids = {(0, 'lsgan'): 30.0, (0, 'lsgan_reg'): 25.0, (1, 'lsgan'): 20.0, (1, 'lsgan_reg'): 24.0,
            (2, 'lsgan'): 22.0, (2, 'lsgan_reg'): 21.0}
    for (seed, model), fid in fids.items():
        fake_run(cfg, f'{model}_seed{seed}', epochs=2, fid=fid)  # fid + epoch at each epoch
    fake_run(cfg, 'lsgan_seed3', epochs=2)  # seed 3 has no regularized run: not a pair
    lines = compare.paired_differences(runs_by_seed, cfg.checkpoint_dir).splitlines()
    assert lines[2] == ('| epoch | seed 0 | seed 1 | seed 2 | n | mean | sd | 95% CI (t) | '
                        'seeds where LSGAN + regularizer is lower | Wilcoxon p |')
    stats = paired.statistics([5.0, -4.0, 1.0])
    for epoch in (1, 2):
        assert (f'| {epoch} | 5 | -4 | 1 | 3 | 0.667 | 4.5 | [{stats.ci[0]:.3g}, {stats.ci[1]:.3g}] '
                '| 2 of 3 | 0.75 |') in lines  # ranks 3, 2, 1: W- = 2; {}, {1}, {2}: p = 2 * 3 / 8
    assert compare.paired_differences({0: runs_by_seed[3]}, cfg.checkpoint_dir) == ''
    compare.paired_difference_figure(runs_by_seed, cfg.checkpoint_dir, tmp_path / 'diff.png')
    assert (tmp_path / 'diff.png').stat().st_size > 0


def test_early_sample_statistics_pair_each_seeds_runs_at_each_kept_epoch(tmp_path):
    runs_by_seed = {seed: {m: f'{m}_seed{seed}' for m in registry.MODELS} for seed in (0, 1)}
    fids = {('lsgan_seed0', 1): 50.0, ('lsgan_reg_seed0', 1): 40.0, ('lsgan_seed1', 1): 45.0,
            ('lsgan_reg_seed1', 1): 30.0, ('lsgan_seed0', 2): 35.0, ('other_run', 2): 1.0}
    path = tmp_path / 'early_scores.csv'
    utils.write_csv(path, ['run', 'epoch', 'classifier', 'fid'],
                    [{'run': run, 'epoch': e, 'classifier': 0, 'fid': f} for (run, e), f in fids.items()]
                    + [{'run': 'lsgan_seed0', 'epoch': 1, 'classifier': 1, 'fid': 0.0}])
    table = compare.early_sample_statistics(runs_by_seed, path).splitlines()
    stats = paired.statistics([10.0, 15.0])
    assert table[-1] == (f'| 1 | 2 | 12.5 | 3.5 | [{stats.ci[0]:.3g}, {stats.ci[1]:.3g}] | 2 of 2 | 0.5 |')
    assert compare.early_sample_statistics(runs_by_seed, tmp_path / 'missing.csv') == ''


def test_g_updates_count_the_critic_schedule():
    cfg = config.Config(model='wgan', protocol='paper')  # 5 critic steps, 100 while warming up
    assert compare.g_updates(cfg, 2600) == 25 + 20  # 25 x 100 steps, then one every 5 steps
    assert compare.g_updates(cfg.replace(critic_warmup=False), 2600) == 2600 // 5
    assert compare.g_updates(config.Config(model='wgan'), 7) == 7  # the slides: every step


def test_protocol_comparison_puts_a_models_two_protocols_side_by_side(tiny_config):
    cfg = tiny_config()
    slides, paper = (config.run_name(cfg.under(p, 'wgan'))
                     for p in registry.PROTOCOLS)
    assert slides.startswith('wgan_') and paper.startswith('wgan_paper_')
    assert cfg.under('paper', 'wgan').n_critic == 5
    fake_run(cfg, slides, epochs=2, fid=50.0)  # logs fid + epoch, 2 steps an epoch
    assert compare.protocol_comparison(cfg, cfg.checkpoint_dir, [1, 2], {}) == ''  # one protocol
    fake_run(cfg, paper, epochs=2, fid=190.0)
    table = compare.protocol_comparison(cfg, cfg.checkpoint_dir, [1, 2], {})
    # 4 steps: the slides give G 4 updates, the paper's warm-up none; wall_s = 0.5 s a step.
    assert '| WGAN | slides | 4 | 51 | 52 | 52 | 52 |  | 2 s |' in table  # no final samples
    assert '| WGAN | paper | 0 | 191 | 192 | 192 | 192 |  | 2 s |' in table
    final_fids = {paper: {0: 188.7, 1: 195.0}}  # classifier 0's FID is the one shown
    table = compare.protocol_comparison(cfg, cfg.checkpoint_dir, [1, 2], final_fids)
    assert '| WGAN | paper | 0 | 191 | 192 | 192 | 192 | 189 | 2 s |' in table


def test_shared_scheme_comparison_trains_the_lsgans_as_ralsgans_paper(tiny_config):
    """The LSGANs' runs under RaLSGAN's paper scheme are named as their flags name them; the
    table appears once all three models have run, one row each."""
    cfg = tiny_config()
    runs = {'lsgan': 'lsgan_a-1_b1_c0_paper_lr0.0002_n1000_seed0',
            'lsgan_reg': 'lsgan_reg_a-1_b1_c0_lam0.5_paper_lr0.0002_n1000_seed0',
            'ralsgan': 'ralsgan_paper_n1000_seed0'}
    for model, run in runs.items():
        flags_cfg = flags.config_of(['main.py', f'--model={model}', '--protocol=paper', '--lr=2e-4',
                                     '--train_size=1000', '--nodownload'])
        assert config.run_name(flags_cfg) == run
    for run in list(runs.values())[:2]:
        fake_run(cfg, run, fid=30.0)
    assert compare.shared_scheme_comparison(cfg, cfg.checkpoint_dir, [1, 2], {}) == ''
    fake_run(cfg, runs['ralsgan'], fid=40.0)
    table = compare.shared_scheme_comparison(cfg, cfg.checkpoint_dir, [1, 2], {})
    assert "lr 0.0002, beta1 0.5" in table and 'schedule alternating' in table
    for name, fid in (('LSGAN', 31), ('LSGAN + regularizer', 31), ('RaLSGAN', 41)):
        # alternating updates: every step a D update then a G update
        assert f"| {name} | RaLSGAN's paper | 4 | {fid} | {fid + 1} |" in table


def test_run_times_separate_the_gaps_of_a_paused_run(tiny_config):
    cfg = tiny_config()
    wall = [0.2, 0.4, 0.6, 45.6, 45.8, 46.0, 146.0, 146.2]  # paused 45 s and 100 s
    utils.write_csv(f'{cfg.checkpoint_dir}/lsgan_seed0/losses.csv', ['step', 'epoch', 'wall_s'],
                    [{'step': s, 'epoch': 1, 'wall_s': w} for s, w in enumerate(wall, 1)])
    table = compare.run_times({0: {'lsgan': 'lsgan_seed0'}}, cfg.checkpoint_dir)
    assert '| lsgan_seed0 | 0 | 8 | 1 | 2 min 26 s | 2 min 25 s | 0.200 s |' in table
    utils.write_csv(f'{cfg.checkpoint_dir}/lsgan_seed1/losses.csv', ['step', 'epoch', 'wall_s'],
                    [{'step': 1, 'epoch': 1, 'wall_s': 3.0}])  # one step: no gap, no median
    table = compare.run_times({1: {'lsgan': 'lsgan_seed1'}}, cfg.checkpoint_dir)
    assert '| lsgan_seed1 | 1 | 1 | 1 | 3 s | 0 s |  | not recorded |  |' in table


def test_run_table_names_each_runs_cpu_and_classifier(tiny_config):
    cfg = tiny_config()
    runs_by_seed = {0: {m: f'{m}_seed0' for m in registry.MODELS}}
    for run, accuracy, floor in (('lsgan_seed0', 0.9919, 3.649), ('lsgan_reg_seed0', 0.9923, 3.726)):
        fake_run(cfg, run)
        (utils.Path(cfg.checkpoint_dir) / run / 'classifier.json').write_text(json.dumps(
            {'test_accuracy': accuracy, 'real_floor': {'fid': floor}}))
    (utils.Path(cfg.checkpoint_dir) / 'lsgan_seed0' / 'run.json').write_text(
        json.dumps({'cpu': 'AMD EPYC: avx2'}))
    table = compare.run_times(runs_by_seed, cfg.checkpoint_dir)
    assert '| AMD EPYC: avx2 | 0.9919 / 3.65 |' in table  # recorded before oneDNN's state was
    for onednn, shown in ((True, 'on'), (False, 'off')):
        (utils.Path(cfg.checkpoint_dir) / 'lsgan_seed0' / 'run.json').write_text(
            json.dumps({'cpu': 'AMD EPYC: avx2', 'onednn': onednn}))
        table = compare.run_times(runs_by_seed, cfg.checkpoint_dir)
        assert f'| AMD EPYC: avx2, oneDNN {shown} | 0.9919 / 3.65 |' in table
    assert '| not recorded | 0.9923 / 3.73 |' in table
    page = compare.results_page(runs_by_seed, cfg.checkpoint_dir, [2], cfg.checkpoint_dir + '/none.csv')
    assert 'scored during training by 2 different digit classifiers' in page
    assert '| *real digits (floor, classifier 0.9919 / 3.65)* | | 3.65 |' in page  # a floor each
    assert '| *real digits (floor, classifier 0.9923 / 3.73)* | | 3.73 |' in page


def test_final_scores_table_and_its_pairs_under_each_classifier(tiny_config, tmp_path):
    runs_by_seed = {seed: {m: f'{m}_seed{seed}' for m in registry.MODELS} for seed in (0, 1)}
    fids = {('lsgan_seed0', 0): 30.0, ('lsgan_seed0', 1): 28.0, ('lsgan_reg_seed0', 0): 27.0,
            ('lsgan_reg_seed0', 1): 29.0, ('lsgan_seed1', 0): 20.0, ('lsgan_seed1', 1): 21.0,
            ('lsgan_reg_seed1', 0): 26.0, ('lsgan_reg_seed1', 1): 25.5, ('other_run', 0): 1.0}
    path = tmp_path / 'final_scores.csv'
    fids.update({('real_digits', 0): 5.0, ('real_digits', 1): 6.0})
    utils.write_csv(path, ['run', 'classifier', 'classifier_test_accuracy', 'n', 'fid'],
                    [{'run': run, 'classifier': c, 'classifier_test_accuracy': 0.99 + c / 1000,
                      'n': 1000, 'fid': f} for (run, c), f in fids.items()])
    table = compare.final_scores(runs_by_seed, path)
    assert "| *the classifier's test accuracy* | | 0.9900 | 0.9910 | |" in table
    assert '| *real digits (1,000 training digits)* | | 5 | 6 | |' in table
    assert '| lsgan_seed0 | 0 | 30 | 28 | 2 |' in table
    assert '| lsgan_reg_seed1 | 1 | 26 | 25.5 | 0.5 |' in table
    assert 'other_run' not in table  # not a run of these seeds
    assert '| 0 | 3 | -1 |' in table and '| 1 | -6 | -4.5 |' in table
    for name, differences in (('classifier 0 (metrics)', [3.0, -6.0]), ('classifier 1', [-1.0, -4.5])):
        assert f'| {name} | {paired.cells(paired.statistics(differences))} |' in table
    assert '| classifier 1 | 2 | -2.75 | 2.5 |' in table
    assert compare.final_scores(runs_by_seed, tmp_path / 'missing.csv') == ''
