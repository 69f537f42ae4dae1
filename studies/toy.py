"""The 2-D toy (--mode=toy): every model's losses on data one can see.

--toy_data=ring8: eight Gaussians (std 0.05) on a circle of radius 2, the mixture of Mao et al.
2017 (sec. 4.3), where mode collapse shows directly. --toy_data=disjoint: real data on a
segment (a 1-D set in the plane, so P_r has no density) far from where G starts: the supports
are disjoint, the slides' case for vanishing gradients.

G and D are small MLPs (model.mlp_generator, model.mlp_discriminator) trained with the very
step the image models use (gan_step.make_train_step: same losses, schedule, clipping,
gradient penalty, gradient probe), under --protocol's settings, with learning rate TOY_LR.
The models: the six, plus lsgan_reg at each --gradcheck_lams. Per --seeds and model it logs,
every --grad_every steps, ||grad_G L_G||, the mean ||grad_x D|| at generated points, the
share of generated points near the real support and the modes covered. Written to
<out_dir>/toy/: <data>.csv, <data>.md (final numbers, mean +- std over seeds), <data>.png
(samples over D's output at several steps, first seed) and <data>_curves.png.
"""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from absl import logging

import gan_step
import model
import registry
import utils

Z_DIM, HIDDEN, BATCH, TOY_LR = 8, 128, 256, 1e-3
SETTINGS = {'batch_size': BATCH, 'z_dim': Z_DIM, 'lr': TOY_LR}  # over every model's own
STD, NEAR = 0.05, 0.15  # the ring's Gaussians; "near the support": within 3 std
RING = np.array([[2 * np.cos(t), 2 * np.sin(t)] for t in np.arange(8) * np.pi / 4], np.float32)
SEGMENT_Y, N_PARTS = 3.0, 8  # the disjoint case: x in [-1, 1] at y = 3, cut in 8 parts
N_EVAL = 2000
COLUMNS = ('model', 'seed', 'step', 'g_grad_norm', 'd_grad_x_norm', 'near_support',
           'modes_covered')


def sample_real(data, n, rng):
    if data == 'ring8':
        return RING[rng.integers(8, size=n)] + STD * rng.standard_normal((n, 2)).astype(np.float32)
    return np.stack([rng.uniform(-1, 1, n), np.full(n, SEGMENT_Y)], axis=1).astype(np.float32)


def support_stats(data, points):
    """The share of points within NEAR of the real support, and how many of its 8 modes (ring
    Gaussians, or eighths of the segment) hold at least a fifth of a fair share of them."""
    if data == 'ring8':
        distances = np.linalg.norm(points[:, None] - RING[None], axis=2)
        nearest, distance = distances.argmin(1), distances.min(1)
    else:
        x = np.clip(points[:, 0], -1, 1)
        distance = np.hypot(points[:, 0] - x, points[:, 1] - SEGMENT_Y)
        nearest = np.minimum(((x + 1) / 2 * N_PARTS).astype(int), N_PARTS - 1)
    near = distance < NEAR
    counts = np.bincount(nearest[near], minlength=8)
    return {'near_support': float(near.mean()),
            'modes_covered': int((counts >= 0.2 * len(points) / 8).sum())}


def toy_models(cfg):
    """Label -> config: every model, the ones with a lambda once per --gradcheck_lams."""
    configs = {}
    for name, spec in registry.MODELS.items():
        if 'lam' in spec.settings:
            configs.update({f'{name}_lam{lam:g}': cfg.for_model(name, lam=lam, **SETTINGS)
                            for lam in cfg.gradcheck_lams})
        else:
            configs[name] = cfg.for_model(name, **SETTINGS)
    return configs


def train_one(cfg, seed, snapshot_steps):
    """Train one toy GAN; (rows logged every --grad_every steps, {step: (samples, D surface)})."""
    tf.random.set_seed(seed)
    players = gan_step.players(cfg, model.mlp_generator(Z_DIM, HIDDEN),
                               model.mlp_discriminator(2, HIDDEN))
    step_fn = gan_step.make_train_step(players, tf.random.Generator.from_seed(seed), cfg)
    schedule = gan_step.CriticSchedule(cfg)
    sample = gan_step.make_sampler(players.G)
    rng = np.random.default_rng([seed, 3])
    eval_z = rng.standard_normal((N_EVAL, Z_DIM)).astype(np.float32)
    rows, snapshots = [], {}
    for step in range(cfg.toy_steps + 1):
        if step in snapshot_steps:
            snapshots[step] = (sample(eval_z).numpy()[:500], decision_surface(players.D))
        if step == cfg.toy_steps:
            break
        real = tf.constant(sample_real(cfg.toy_data, BATCH, rng))
        out = gan_step.take_step(step_fn, cfg, schedule, real, step + 1)
        if 'g_grad_norm' in out:
            rows.append({'step': step + 1, 'g_grad_norm': float(out['g_grad_norm']),
                         'd_grad_x_norm': float(out['d_grad_x_norm']),
                         **support_stats(cfg.toy_data, sample(eval_z).numpy())})
    return rows, snapshots


EXTENT = (-3.5, 3.5, -3.5, 4.0)


def decision_surface(D, resolution=80):
    xs = np.linspace(EXTENT[0], EXTENT[1], resolution, dtype=np.float32)
    ys = np.linspace(EXTENT[2], EXTENT[3], resolution, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    D.eval()  # the compiled training step fixed D's mode when it was traced
    return D(tf.constant(grid))[0].numpy().reshape(resolution, resolution)


def run(cfg):
    out = Path(cfg.out_dir) / 'toy'
    snapshot_steps = sorted({0, cfg.toy_steps // 10, cfg.toy_steps // 4, cfg.toy_steps // 2,
                             cfg.toy_steps})
    rows, first_seed_snapshots = [], {}
    for label, model_cfg in toy_models(cfg).items():
        for seed in cfg.seeds:
            logs, snapshots = train_one(model_cfg, seed, snapshot_steps)
            rows += [{'model': label, 'seed': seed, **row} for row in logs]
            if seed == cfg.seeds[0]:
                first_seed_snapshots[label] = snapshots
            logging.info('toy %s %s seed %d: near support %.2f, modes %d, |grad G| %.3g',
                         cfg.toy_data, label, seed, logs[-1]['near_support'],
                         logs[-1]['modes_covered'], logs[-1]['g_grad_norm'])

    utils.write_csv(out / f'{cfg.toy_data}.csv', COLUMNS, rows)
    utils.write_atomically(out / f'{cfg.toy_data}.md', lambda tmp: tmp.write_text(
        final_table(rows, cfg.toy_data, cfg.toy_steps)))
    real = sample_real(cfg.toy_data, 500, np.random.default_rng(0))
    figure(first_seed_snapshots, real, EXTENT, out / f'{cfg.toy_data}.png')
    curves(rows, out / f'{cfg.toy_data}_curves.png')
    logging.info('Wrote %s/%s.{csv,md,png} and %s_curves.png', out, cfg.toy_data, cfg.toy_data)


def final_table(rows, data, steps):
    lines = [f'# 2-D toy "{data}" after {steps} steps', '',
             f'Mean +- std over seeds (n). near support: share of {N_EVAL} generated points '
             f'within {NEAR} of the real support; modes: of 8; gradient norms at the last '
             'logged step.', '',
             '| model | n | near support | modes covered | norm of grad_G L_G | '
             'mean norm of grad_x D |', '| --- | ---: | ---: | ---: | ---: | ---: |']
    for label in dict.fromkeys(row['model'] for row in rows):
        last = {}
        for row in rows:
            if row['model'] == label:
                last[row['seed']] = row  # rows are in step order: the last one stays
        cells = {k: utils.mean_std([r[k] for r in last.values()]) for k in COLUMNS[3:]}
        lines.append(f'| {label} | {len(last)} | {cells["near_support"]} | '
                     f'{cells["modes_covered"]} | {cells["g_grad_norm"]} | {cells["d_grad_x_norm"]} |')
    return '\n'.join(lines) + '\n'


def figure(snapshots, real, extent, path):
    """snapshots: {model: {step: (generated points, D's output on a grid over `extent`)}}. One
    row per model, one column per step: D's output (its own colour scale in each panel), the
    real points in grey and the generated ones in orange."""
    labels = list(snapshots)
    steps = sorted(next(iter(snapshots.values())))
    fig, axes = plt.subplots(len(labels), len(steps), figsize=(2.2 * len(steps), 2.2 * len(labels)),
                             squeeze=False,
                             layout='constrained')
    for row, label in enumerate(labels):
        for column, step in enumerate(steps):
            ax = axes[row, column]
            points, surface = snapshots[label][step]
            ax.imshow(surface, extent=extent, origin='lower', cmap='Blues', aspect='auto')
            ax.scatter(real[:, 0], real[:, 1], s=1, c='grey')
            ax.scatter(points[:, 0], points[:, 1], s=1, c='tab:orange')
            ax.set_xlim(extent[:2])
            ax.set_ylim(extent[2:])
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f'step {step}', fontsize=9)
            if column == 0:
                ax.set_ylabel(label, fontsize=8)
    utils.save_figure(fig, path)


def curves(rows, path):
    """Per model (mean over seeds): ||grad_G L_G||, ||grad_x D|| at generated points and the
    share of generated points near the real support, against the step."""
    panels = {'g_grad_norm': "norm of the gradient of G's loss", 'd_grad_x_norm':
              'mean norm of grad_x D at generated points', 'near_support':
              'share of generated points near the real support'}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), layout='constrained')
    for label in dict.fromkeys(row['model'] for row in rows):
        mine = [row for row in rows if row['model'] == label]
        steps = sorted({int(row['step']) for row in mine})
        for ax, key in zip(axes, panels):
            means = [np.mean([float(r[key]) for r in mine if int(r['step']) == s]) for s in steps]
            ax.plot(steps, means, label=label)
    for ax, (key, title) in zip(axes, panels.items()):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel('step')
        if key != 'near_support':
            ax.set_yscale('log')
    axes[0].legend(fontsize=7)
    utils.save_figure(fig, path)
