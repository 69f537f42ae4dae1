"""Does the generator's gradient vanish as D approaches its optimum? (--mode=gradcheck)

The slides ("Our Method II-IV") argue that when supp P_r and supp P_g barely overlap, a
near-optimal LSGAN discriminator leaves G without gradient, and that the term
lambda (E[D(G(z))] - E[D(x)])^2 keeps it. Here G is frozen (as initialised, and as a trained
checkpoint), a fresh D of each kind is trained for K steps against it, and after each K the
norm of the gradient of every generator loss with respect to G's weights is measured:

    GAN minimax and non-saturating (D: cross-entropy), WGAN (clipped critic), WGAN-GP,
    LSGAN and LSGAN + regularizer at each --gradcheck_lams (D: least squares, a, b).

Each D is trained exactly as in training (gan_step.make_train_step with update_g=False,
the model's --protocol settings). The gradients are taken on a fixed evaluation batch of
4 x --batch_size real samples and z. --gradcheck_data=images runs it on the training images
with the DCGAN; ring8 or disjoint on toy.py's 2-D data and MLPs (G at initialisation only,
toy.py's batch size and learning rate), where D can be trained much closer to its optimum.
Output in <out_dir>/gradcheck/: <name>.csv (every measurement; finished (G, seed, D) blocks
are skipped when the command is run again), <name>.md (mean +- std over --seeds) and
<name>.png (gradient norm against K), with <name> gradcheck or toy_<data>.
"""
import functools
from pathlib import Path
from typing import Callable, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from absl import logging

import config
import data
import gan_step
import model
import utils
from studies import toy

COLUMNS = ('g_state', 'seed', 'd_model', 'd_steps', 'loss', 'g_grad_norm', 'd_grad_x_norm',
           'd_real_mean', 'd_fake_mean', 'd_loss', 'd_gap_magnitude')
EVAL_BATCHES = 4


class Problem(NamedTuple):
    """What the experiment runs on."""
    name: str  # the output files' name
    generators: dict  # G state -> (seed -> frozen G)
    make_discriminator: Callable  # config -> D
    real_batches: Callable  # (seed, n) -> iterator over n training batches
    draw_real: Callable  # (numpy rng, n) -> n real samples, the fixed evaluation set
    settings: dict  # what the problem changes in every model's settings
    leaky_features: bool  # D's output layer reads model.lrelu activations (mean_gap_magnitude)


def image_problem(cfg):
    """The training images and the image networks: G at initialisation, and G of the run the
    config names if it has been trained."""
    _, images, _ = data.load_or_fail(cfg)
    trained = tf.train.latest_checkpoint(str(Path(cfg.checkpoint_dir) / config.run_name(cfg)))
    if not trained:
        logging.warning('No checkpoint of %s in %s: measuring the initial G only (train that run '
                        'first for the trained-G half).', config.run_name(cfg), cfg.checkpoint_dir)
    checkpoints = {'at initialisation': None,
                   **({f'trained ({config.run_name(cfg)})': trained} if trained else {})}
    return Problem(
        name='_'.join(['gradcheck', *config.scheme_overrides(cfg)]),
        generators={state: functools.partial(frozen_generator, cfg, checkpoint=path)
                    for state, path in checkpoints.items()},
        make_discriminator=lambda c: gan_step.image_networks(c)[1],
        real_batches=lambda seed, n: iter(data.training_batches(images, cfg.batch_size, seed, 0, n)),
        draw_real=lambda rng, n: data.to_model_range(images[rng.choice(len(images), n,
                                                                        replace=False)]),
        settings={}, leaky_features=True)


def toy_problem(cfg):
    """The 2-D --gradcheck_data with toy.py's MLPs; G at initialisation only."""
    def generator(seed):
        tf.random.set_seed(seed)
        return model.mlp_generator(toy.Z_DIM, toy.HIDDEN)

    def real_batches(seed, n):
        rng = np.random.default_rng([seed, 4])
        return (tf.constant(toy.sample_real(cfg.gradcheck_data, toy.BATCH, rng)) for _ in range(n))

    return Problem(
        name='_'.join([f'toy_{cfg.gradcheck_data}', *config.scheme_overrides(cfg)]),
        generators={'at initialisation': generator},
        make_discriminator=lambda c: model.mlp_discriminator(2, toy.HIDDEN),
        real_batches=real_batches,
        draw_real=lambda rng, n: tf.constant(toy.sample_real(cfg.gradcheck_data, n, rng)),
        settings=toy.SETTINGS, leaky_features=False)


def generator_losses(cfg, settings):
    """The experiment: each kind of D in --gradcheck_discriminators, and the G losses measured
    against it ({name: config whose G objective it is})."""
    def of(model_name, **more):
        return cfg.for_model(model_name, **settings, **more)

    losses = {
        'gan': {'gan_minimax': of('gan', gan_loss='minimax'), 'gan_ns': of('gan', gan_loss='ns')},
        'wgan': {'wgan': of('wgan')},
        'wgan_gp': {'wgan_gp': of('wgan_gp')},
        'lsgan': {'lsgan': of('lsgan'), **{f'lsgan_reg_lam{lam:g}': of('lsgan_reg', lam=lam)
                                           for lam in cfg.gradcheck_lams}},
    }
    return {d_model: losses[d_model] for d_model in cfg.gradcheck_discriminators}


def mean_gap_magnitude(D, f_real, f_fake, slope=model.LRELU_SLOPE):
    """The part of E D(G(z)) - E D(x) carried by the magnitudes of D's last hidden
    pre-activations y, when D's score is w . lrelu(y) + bias:

        lrelu(y) = (1 + s)/2 y + (1 - s)/2 |y|  (s = slope), so
        E D(G(z)) - E D(x) = (1 + s)/2 w . (mean y_fake - mean y_real)
                           + (1 - s)/2 w . (mean |y_fake| - mean |y_real|),

    and this returns the second term. Where batch norm fixes each feature's batch mean (the
    infogan D: dense, then BN) the first term is exactly 0, so the regularizer compares the
    batches only through mean |y|; in the dcgan D, BN fixes the mean over batch and positions
    of each channel, not of each feature, so the first term need not vanish."""
    w = D.all_layers[-1].all_weights[0][:, 0]
    def magnitudes(f):
        return tf.reduce_mean(tf.abs(tf.where(f >= 0, f, f / slope)), axis=0)
    return (1 - slope) / 2 * tf.reduce_sum(w * (magnitudes(f_fake) - magnitudes(f_real)))


def make_probe(G, D, noise, d_cfg, g_cfgs, leaky_features):
    """A function of (real, z) measuring, from one forward pass, ||grad_theta_G L_G|| for each
    G objective, the mean ||grad_x D(x)|| at the generated x, D's mean scores and D's loss
    (and, for `leaky_features` D's, mean_gap_magnitude)."""
    @tf.function
    def probe(real, z):
        G.train()  # batch statistics, as G is used in training
        D.train()
        with tf.GradientTape(persistent=True) as tape:
            p = gan_step.forward(G, D, real, z, noise)
            g_losses = {name: gan_step.total(c.spec.g_loss(p, c)) for name, c in g_cfgs.items()}
            d_loss = gan_step.total(d_cfg.spec.d_loss(p, d_cfg))
        d_side = {'d_grad_x_norm': gan_step.d_input_gradient_norm(tape, p),
                  'd_real_mean': tf.reduce_mean(p.d_real), 'd_fake_mean': tf.reduce_mean(p.d_fake),
                  'd_loss': d_loss}
        if leaky_features:
            d_side['d_gap_magnitude'] = mean_gap_magnitude(D, p.f_real, p.f_fake)
        return ({name: gan_step.generator_gradient_norm(tape, value, G)
                 for name, value in g_losses.items()}, d_side)

    return probe


def frozen_generator(cfg, seed, checkpoint=None):
    tf.random.set_seed(seed)
    G = gan_step.image_networks(cfg)[0]
    if checkpoint:
        tf.train.Checkpoint(G=G.all_weights).read(checkpoint).expect_partial()
    return G


def measure_block(cfg, problem, G, d_model, g_cfgs, seed):
    """Train a fresh D of `d_model` against the frozen G; rows of measurements at each K."""
    d_cfg = cfg.for_model(d_model, **problem.settings)
    tf.random.set_seed(seed + 1000)  # D's initialisation: the same for every G state
    players = gan_step.players(d_cfg, G, problem.make_discriminator(d_cfg))
    noise = tf.random.Generator.from_seed(seed)
    d_step = gan_step.make_train_step(players, noise, d_cfg)
    probe = make_probe(G, players.D, noise, d_cfg, g_cfgs, problem.leaky_features)
    rng = np.random.default_rng([seed, 2])
    n_eval = EVAL_BATCHES * d_cfg.batch_size
    eval_real = problem.draw_real(rng, n_eval)
    eval_z = tf.constant(rng.standard_normal((n_eval, d_cfg.z_dim), np.float32))
    checkpoints = sorted(set(cfg.gradcheck_steps))
    batches = problem.real_batches(seed, max(checkpoints))
    rows, done = [], 0
    for k in checkpoints:
        for real in (next(batches) for _ in range(k - done)):
            d_step(real, update_d=True, update_g=False)
        done = k
        g_norms, d_side = probe(eval_real, eval_z)
        d_side = {name: float(value) for name, value in d_side.items()}
        rows += [{'d_model': d_model, 'd_steps': k, 'loss': name, 'g_grad_norm': float(norm),
                  **d_side} for name, norm in g_norms.items()]
        logging.info('  D=%s K=%d: %s  |grad_x D| %.3g', d_model, k, '  '.join(
            f'{name} {float(norm):.3g}' for name, norm in g_norms.items()), d_side['d_grad_x_norm'])
    return rows


def one_row_per_discriminator(rows):
    """Rows repeat D's figures on every G loss of a block: one row per (seed, D, K)."""
    return list({(r['seed'], r['d_model'], int(r['d_steps'])): r for r in rows}.values())


def gap_share(row):
    """mean_gap_magnitude as a share of E D(G(z)) - E D(x) (1: all of it)."""
    return float(row['d_gap_magnitude']) / (float(row['d_fake_mean']) - float(row['d_real_mean']))


def summary_table(rows, d_steps):
    """Markdown: per G state, mean +- std over seeds of each loss's gradient norm at each K,
    then each D's ||grad_x D|| at each K and, at the largest K, its mean outputs, its loss (how
    close it is to its optimum) and the share of their gap carried by mean |y|
    (mean_gap_magnitude), where measured."""
    lines = ['# Generator gradient norm as D approaches its optimum', '',
             f'||grad_theta_G L_G|| on a fixed set of {EVAL_BATCHES} training batches of real '
             'samples and z, G frozen, after K steps of a fresh D of the matching kind; mean +- '
             'std over seeds (n). Compare a loss with itself across K: the losses have different '
             'scales.', '']
    header = ' | '.join(f'K={k}' for k in d_steps)
    for g_state in dict.fromkeys(row['g_state'] for row in rows):
        mine = [row for row in rows if row['g_state'] == g_state]
        lines += [f'## G {g_state}', '', f'| G loss | n | {header} |',
                  '| --- | ---: |' + ' ---: |' * len(d_steps)]
        for loss in dict.fromkeys(row['loss'] for row in mine):
            of_loss = [row for row in mine if row['loss'] == loss]
            cells = [utils.mean_std([r['g_grad_norm'] for r in of_loss if int(r['d_steps']) == k])
                     for k in d_steps]
            lines.append(f'| {loss} | {len({r["seed"] for r in of_loss})} | '
                         + ' | '.join(cells) + ' |')
        d_side = one_row_per_discriminator(mine)
        with_gap = any(r.get('d_gap_magnitude') for r in d_side)
        gap_header = ' share of the gap through mean abs(y) |' if with_gap else ''
        lines += ['', f'| D: mean norm of grad_x D(G(z)) at | {header} | mean D(x) | mean D(G(z)) '
                  '| D loss |' + gap_header, '| --- |' + ' ---: |' * (len(d_steps) + 3 + with_gap)]
        for d_model in dict.fromkeys(r['d_model'] for r in d_side):
            of_d = [r for r in d_side if r['d_model'] == d_model]
            last = [r for r in of_d if int(r['d_steps']) == d_steps[-1]]
            cells = [utils.mean_std([r['d_grad_x_norm'] for r in of_d if int(r['d_steps']) == k])
                     for k in d_steps]
            cells += [utils.mean_std([r[name] for r in last])
                      for name in ('d_real_mean', 'd_fake_mean', 'd_loss')]
            if with_gap:
                cells.append(utils.mean_std([gap_share(r) for r in last if r.get('d_gap_magnitude')]))
            lines.append(f'| {d_model} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    return '\n'.join(lines)


def figure(rows, d_steps, path):
    """Per G state, each G loss's gradient norm after K steps of D (mean over seeds, min-max
    bars; on the log scale a constant rescaling of a gradient shifts its curve without changing
    its shape), and ||grad_x D|| at generated images."""
    g_states = list(dict.fromkeys(row['g_state'] for row in rows))
    fig, axes = plt.subplots(2, len(g_states), figsize=(6 * len(g_states), 8), squeeze=False,
                             layout='constrained')
    for column, g_state in enumerate(g_states):
        mine = [row for row in rows if row['g_state'] == g_state]
        for loss in dict.fromkeys(row['loss'] for row in mine):
            _plot_mean_over_seeds(axes[0, column], mine, d_steps, loss, 'loss', 'g_grad_norm')
        d_side = one_row_per_discriminator(mine)
        for d_model in dict.fromkeys(row['d_model'] for row in d_side):
            _plot_mean_over_seeds(axes[1, column], d_side, d_steps, d_model, 'd_model',
                                  'd_grad_x_norm')
        axes[0, column].set_title(f'G {g_state}:\n||grad_G L_G|| after K steps of D',
                                  fontsize=10)
        axes[1, column].set_title('mean ||grad_x D|| at generated images', fontsize=10)
        for ax in axes[:, column]:
            ax.set_xscale('symlog', linthresh=1)
            ax.set_yscale('log')
            ax.set_xlabel('K (discriminator steps, G frozen)')
            ax.legend(fontsize=7)
    utils.save_figure(fig, path)


def _plot_mean_over_seeds(ax, rows, d_steps, name, key, value):
    """One line: rows[key] == name, `value` against K, mean over seeds with min-max bars."""
    by_seed = {}
    for row in rows:
        if row[key] == name:
            by_seed.setdefault(row['seed'], {})[int(row['d_steps'])] = float(row[value])
    curves = np.array([[seed_values[k] for k in d_steps] for seed_values in by_seed.values()
                       if all(k in seed_values for k in d_steps)])
    if not len(curves):
        return
    mean = curves.mean(0)
    ax.errorbar(d_steps, mean, yerr=[mean - curves.min(0), curves.max(0) - mean], marker='o',
                capsize=3, label=f'{name} (n={len(curves)})')


def run(cfg):
    """--mode=gradcheck: every G state x seed x kind of D, skipping blocks already in the CSV."""
    problem = image_problem(cfg) if cfg.gradcheck_data == 'images' else toy_problem(cfg)
    out = Path(cfg.out_dir) / 'gradcheck'
    path = out / f'{problem.name}.csv'
    rows = utils.read_csv(path)
    done = {(r['g_state'], r['seed'], r['d_model']) for r in rows}
    losses = generator_losses(cfg, problem.settings)
    for seed in cfg.seeds:  # seed by seed: an interrupted run has whole seeds
        for g_state, make_generator in problem.generators.items():
            G = make_generator(seed)
            for d_model, g_cfgs in losses.items():
                if (g_state, str(seed), d_model) in done:
                    continue
                logging.info('G %s, seed %d, D %s', g_state, seed, d_model)
                rows += [{'g_state': g_state, 'seed': seed, **row}
                         for row in measure_block(cfg, problem, G, d_model, g_cfgs, seed)]
                utils.write_csv(path, COLUMNS, rows)
    d_steps = sorted(set(cfg.gradcheck_steps))
    rows = [row for row in utils.read_csv(path) if int(row['d_steps']) in d_steps]
    utils.write_atomically(out / f'{problem.name}.md', lambda tmp: tmp.write_text(
        summary_table(rows, d_steps)))
    figure(rows, d_steps, out / f'{problem.name}.png')
    logging.info('Wrote %s and its .md and .png', path)
