"""The theory experiments: studies/gradcheck.py (near-optimal D) and studies/toy.py (2-D data)."""
import csv

import numpy as np
import pytest

import registry
from studies import toy


def rows_of(path):
    with open(path, newline='') as file:
        return list(csv.DictReader(file))


def test_points_on_the_ring_cover_all_modes_and_a_collapsed_set_one():
    on_modes = np.repeat(toy.RING, 10, axis=0)
    assert toy.support_stats('ring8', on_modes) == {'near_support': 1.0, 'modes_covered': 8}
    collapsed = np.repeat(toy.RING[:1], 80, axis=0)
    assert toy.support_stats('ring8', collapsed) == {'near_support': 1.0, 'modes_covered': 1}
    far = np.full((80, 2), 10.0, np.float32)
    assert toy.support_stats('ring8', far) == {'near_support': 0.0, 'modes_covered': 0}


def test_the_disjoint_support_is_the_segment():
    rng = np.random.default_rng(0)
    real = toy.sample_real('disjoint', 4000, rng)
    assert toy.support_stats('disjoint', real) == {'near_support': 1.0, 'modes_covered': 8}
    below = real - [0.0, 0.5]  # 0.5 under the segment: none near it
    assert toy.support_stats('disjoint', below)['near_support'] == 0.0
    half = real[real[:, 0] < 0]
    assert toy.support_stats('disjoint', half)['modes_covered'] == 4


def test_ring_samples_sit_on_eight_gaussians_of_radius_two():
    points = toy.sample_real('ring8', 8000, np.random.default_rng(1))
    assert np.linalg.norm(points, axis=1).mean() == pytest.approx(2.0, abs=0.01)
    angles = np.round(np.arctan2(points[:, 1], points[:, 0]) / (np.pi / 4)) % 8
    assert np.bincount(angles.astype(int), minlength=8).min() > 800


def test_toy_run_logs_every_model_and_lambda_zero_is_lsgan(run_main, tmp_path):
    out = tmp_path / 'results'
    run_main('--mode=toy', '--toy_steps=4', '--grad_every=2', '--gradcheck_lams=0,1',
             '--seeds=0', f'--out_dir={out}')
    rows = rows_of(out / 'toy' / 'ring8.csv')
    models = {*registry.MODELS, 'lsgan_reg_lam0', 'lsgan_reg_lam1'} - {'lsgan_reg'}
    assert {row['model'] for row in rows} == models and len(rows) == 2 * len(models)
    by_model = {(r['model'], r['step']): float(r['g_grad_norm']) for r in rows}
    for step in ('2', '4'):  # lambda = 0 adds nothing: the same training as LSGAN
        assert by_model['lsgan_reg_lam0', step] == pytest.approx(by_model['lsgan', step], rel=1e-4)
    assert (out / 'toy' / 'ring8.png').stat().st_size > 0
    assert (out / 'toy' / 'ring8_curves.png').stat().st_size > 0
    assert '| lsgan_reg_lam1 | 1 |' in (out / 'toy' / 'ring8.md').read_text()


def test_gradcheck_measures_initial_and_trained_generator(run_main, tmp_path):
    out = tmp_path / 'results'
    run_main('--model=lsgan', '--max_steps=1', '--batch_size=8')
    first = run_main('--mode=gradcheck', '--model=lsgan', '--batch_size=8',
                     '--gradcheck_steps=0,2', '--gradcheck_lams=0,5', '--seeds=0', f'--out_dir={out}')
    assert 'D=lsgan K=2' in first.stderr  # the log line the rerun below must not print
    rows = rows_of(out / 'gradcheck' / 'gradcheck.csv')
    assert {r['g_state'] for r in rows} == {'at initialisation',
                                            'trained (lsgan_a-1_b1_c0_n1000_seed0)'}
    losses = {'gan_minimax', 'gan_ns', 'wgan', 'wgan_gp', 'lsgan', 'lsgan_reg_lam0',
              'lsgan_reg_lam5'}
    assert {r['loss'] for r in rows} == losses and len(rows) == 2 * 2 * len(losses)
    norm = {(r['g_state'], r['loss'], r['d_steps']): float(r['g_grad_norm']) for r in rows}
    for g_state in ('at initialisation', 'trained (lsgan_a-1_b1_c0_n1000_seed0)'):
        for k in ('0', '2'):  # lambda = 0: exactly the LSGAN gradient, against the same D
            assert norm[g_state, 'lsgan_reg_lam0', k] == pytest.approx(norm[g_state, 'lsgan', k],
                                                                       rel=1e-5)
        # Before any D step the WGAN and WGAN-GP critics are the same network: same gradient.
        assert norm[g_state, 'wgan', '0'] == pytest.approx(norm[g_state, 'wgan_gp', '0'], rel=1e-5)
    assert '## G trained' in (out / 'gradcheck' / 'gradcheck.md').read_text()
    assert (out / 'gradcheck' / 'gradcheck.png').stat().st_size > 0
    again = run_main('--mode=gradcheck', '--model=lsgan', '--batch_size=8',
                     '--gradcheck_steps=0,2', '--gradcheck_lams=0,5', '--seeds=0',
                     f'--out_dir={out}')
    assert 'D=' not in again.stderr  # every block was already measured: nothing retrained
    assert len(rows_of(out / 'gradcheck' / 'gradcheck.csv')) == len(rows)


def test_gradcheck_on_the_2d_data(run_main, tmp_path):
    out = tmp_path / 'results'
    run_main('--mode=gradcheck', '--gradcheck_data=disjoint', '--gradcheck_steps=0,3',
             '--gradcheck_lams=0', '--seeds=0', f'--out_dir={out}')
    rows = rows_of(out / 'gradcheck' / 'toy_disjoint.csv')
    assert {r['g_state'] for r in rows} == {'at initialisation'}
    assert len(rows) == 2 * 6  # K in {0, 3} x six G losses
    norm = {(r['loss'], r['d_steps']): float(r['g_grad_norm']) for r in rows}
    assert norm['lsgan_reg_lam0', '3'] == pytest.approx(norm['lsgan', '3'], rel=1e-5)
    assert (out / 'gradcheck' / 'toy_disjoint.png').stat().st_size > 0


def test_gradcheck_under_the_paper_protocol(run_main, tmp_path):
    """The per-sample gradient-penalty coefficient must follow the probe's batch (4 x the
    training batch): this path once crashed on a shape mismatch."""
    out = tmp_path / 'results'
    run_main('--mode=gradcheck', '--protocol=paper', '--model=lsgan', '--batch_size=8',
             '--gradcheck_steps=0,1', '--gradcheck_lams=0', '--seeds=0', f'--out_dir={out}')
    rows = rows_of(out / 'gradcheck' / 'gradcheck.csv')
    gp = [r for r in rows if r['d_model'] == 'wgan_gp']
    assert len(gp) == 2 and all(np.isfinite(float(r['d_loss'])) for r in gp)


def test_gradcheck_with_changed_d_settings_writes_its_own_files(run_main, tmp_path):
    """--critic_norm and --lr reach every D, name the output files (not mixing with the default
    measurement), --run_name picks the trained G and --gradcheck_discriminators the kinds of D."""
    out = tmp_path / 'results'
    run_main('--model=lsgan', '--max_steps=1', '--batch_size=8')
    run_main('--mode=gradcheck', '--model=lsgan', '--batch_size=8', '--gradcheck_steps=0,1',
             '--gradcheck_lams=0', '--seeds=0', '--critic_norm=none', '--lr=0.001',
             '--gradcheck_discriminators=lsgan,wgan', '--run_name=lsgan_a-1_b1_c0_n1000_seed0',
             f'--out_dir={out}')
    rows = rows_of(out / 'gradcheck' / 'gradcheck_lr0.001_critic_norm-none.csv')
    assert {r['g_state'] for r in rows} == {'at initialisation',
                                            'trained (lsgan_a-1_b1_c0_n1000_seed0)'}
    assert {r['d_model'] for r in rows} == {'lsgan', 'wgan'}
    assert all(r['d_gap_magnitude'] for r in rows)
    assert 'share of the gap' in (out / 'gradcheck' / 'gradcheck_lr0.001_critic_norm-none.md').read_text()


@pytest.mark.parametrize('arch', ['infogan', 'dcgan'])
def test_mean_gap_splits_into_mean_and_magnitude_parts(arch):
    """E D(G(z)) - E D(x) = (1+s)/2 w.(mean y_f - mean y_r) + (1-s)/2 w.(mean|y_f| - mean|y_r|),
    recomputed in numpy from D's features; in the infogan D, batch norm before the output layer
    fixes every feature's batch mean, so the first term is 0 and the gap is all magnitude."""
    import tensorflow as tf

    import model
    from studies import gradcheck
    tf.random.set_seed(0)
    D = model.discriminator(arch, df_dim=8)
    D.train()
    rng = np.random.default_rng(0)
    real = tf.constant(np.tanh(rng.standard_normal((32, 28, 28, 1))), tf.float32)
    fake = tf.constant(np.tanh(2 * rng.standard_normal((32, 28, 28, 1)) + 0.5), tf.float32)
    (d_real, f_real), (d_fake, f_fake) = D(real), D(fake)
    gap = float(tf.reduce_mean(d_fake) - tf.reduce_mean(d_real))
    magnitude = float(gradcheck.mean_gap_magnitude(D, f_real, f_fake))
    s, w = model.LRELU_SLOPE, D.all_layers[-1].all_weights[0].numpy()[:, 0]
    y_real, y_fake = (np.where(f >= 0, f, f / s) for f in (f_real.numpy(), f_fake.numpy()))
    mean_part = (1 + s) / 2 * w @ (y_fake.mean(0) - y_real.mean(0))
    assert mean_part + magnitude == pytest.approx(gap, rel=1e-3, abs=1e-6)
    if arch == 'infogan':
        assert magnitude == pytest.approx(gap, rel=1e-3, abs=1e-6)
    else:
        assert abs(mean_part) > 0.01 * abs(gap)
