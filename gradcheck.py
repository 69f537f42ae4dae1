"""Does the generator's gradient vanish as D approaches its optimum? (--mode=gradcheck)

The slides ("Our Method II-IV") argue that when supp P_r and supp P_g barely overlap, a
near-optimal LSGAN discriminator leaves G without gradient, and that the term
lambda (E[D(G(z))] - E[D(x)])^2 keeps it. Here G is frozen (as initialised, and as a trained
checkpoint), a fresh D of each kind is trained for K steps against it, and after each K the
norm of the gradient of every generator loss with respect to G's weights is measured:

    GAN minimax and non-saturating (D: cross-entropy), WGAN (clipped critic), WGAN-GP,
    LSGAN and LSGAN + regularizer at each --gradcheck_lams (D: least squares, a, b).

Each D is trained exactly as in training (training.make_train_step with update_g=False,
the model's --protocol settings). The gradients are taken on a fixed evaluation batch of
4 x --batch_size real images and z. Output in <out_dir>/gradcheck/: gradcheck.csv (every
measurement; finished (G, seed, D) blocks are skipped when the command is run again),
gradcheck.md (mean +- std over --seeds) and gradcheck.png (gradient norm against K).
"""
import csv
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

import compare
import data
import flags
import model
import training
import utils

D_MODELS = ('gan', 'wgan', 'wgan_gp', 'lsgan')  # the four kinds of D the six G losses use
COLUMNS = ('g_state', 'seed', 'd_model', 'd_steps', 'loss', 'g_grad_norm', 'd_grad_x_norm',
           'd_real_mean', 'd_fake_mean', 'd_loss')
EVAL_BATCHES = 4


def generator_losses(f):
    """D model -> {loss name: the settings whose G objective it is}."""
    return {
        'gan': {'gan_minimax': flags.for_model(f, 'gan', gan_loss='minimax'),
                'gan_ns': flags.for_model(f, 'gan', gan_loss='ns')},
        'wgan': {'wgan': flags.for_model(f, 'wgan')},
        'wgan_gp': {'wgan_gp': flags.for_model(f, 'wgan_gp')},
        'lsgan': {'lsgan': flags.for_model(f, 'lsgan'),
                  **{f'lsgan_reg_lam{float(lam):g}': flags.for_model(f, 'lsgan_reg', lam=float(lam))
                     for lam in f.gradcheck_lams}},
    }


def make_probe(G, D, d_objective, g_objectives):
    """A function of (real, z) measuring, from one forward pass, ||grad_theta_G L_G|| for each
    G objective, the mean ||grad_x D(x)|| at the generated x, D's mean scores and D's loss."""
    @tf.function
    def probe(real, z):
        G.train()  # batch statistics, as G is used in training
        D.train()
        with tf.GradientTape(persistent=True) as tape:
            fake = G(z)
            (d_real, f_real), (d_fake, f_fake) = D(real), D(fake)
            p = training.ForwardPass(real, fake, d_real, d_fake, f_real, f_fake)
            g_losses = {name: objective(p) for name, objective in g_objectives.items()}
        grad_x = tf.reshape(tape.gradient(d_fake, fake), [tf.shape(fake)[0], -1])
        return ({name: tf.linalg.global_norm(tape.gradient(value, G.trainable_weights))
                 for name, value in g_losses.items()},
                {'d_grad_x_norm': tf.reduce_mean(tf.norm(grad_x, axis=1)),
                 'd_real_mean': tf.reduce_mean(d_real), 'd_fake_mean': tf.reduce_mean(d_fake),
                 'd_loss': d_objective(p)})

    return probe


def trained_generator_path(f):
    """The newest checkpoint of the run the flags name (e.g. --model=lsgan --seed=0), or None."""
    return tf.train.latest_checkpoint(os.path.join(f.checkpoint_dir, flags.run_name(f)))


def frozen_generator(f, seed, checkpoint):
    tf.random.set_seed(seed)
    G = model.generator(f.z_dim, f.gf_dim)
    if checkpoint:
        tf.train.Checkpoint(G=G.all_weights).read(checkpoint).expect_partial()
    return G


def measure_block(f, G, d_model, g_settings, real_images, seed):
    """Train a fresh D of `d_model` against the frozen G; rows of measurements at each K."""
    fd = flags.for_model(f, d_model)
    tf.random.set_seed(seed + 1000)  # D's initialisation: the same for every G state
    D = model.discriminator(fd.df_dim, fd.critic_norm)
    d_opt = training.make_optimizer(fd)
    d_opt.build(D.trainable_weights)
    noise = tf.random.Generator.from_seed(seed)
    d_step = training.make_train_step(G, D, None, d_opt, noise, fd)
    d_objective = training.objectives(fd, D, noise)[0]
    probe = make_probe(G, D, d_objective,
                       {name: training.objectives(s, D, noise)[1] for name, s in g_settings.items()})
    rng = np.random.default_rng([seed, 2])
    n_eval = EVAL_BATCHES * f.batch_size
    eval_real = tf.gather(real_images, rng.choice(len(real_images), n_eval, replace=False))
    eval_z = tf.constant(rng.standard_normal((n_eval, f.z_dim), np.float32))
    checkpoints = sorted({int(k) for k in f.gradcheck_steps})
    batches = iter(data.training_batches(real_images, f.batch_size, seed, 0, max(checkpoints)))
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


def read_rows(path):
    if not path.exists():
        return []
    with path.open(newline='') as file:
        return list(csv.DictReader(file))


def summary_table(rows, d_steps):
    """Markdown: per G state, mean +- std over seeds of each loss's gradient norm at each K,
    then each D's ||grad_x D|| at each K and its mean outputs at the largest K."""
    lines = ['# Generator gradient norm as D approaches its optimum', '',
             f'||grad_theta_G L_G|| on a fixed batch of {EVAL_BATCHES} x --batch_size images and z, G frozen, after K steps of a fresh D '
             'of the matching kind; mean +- std over seeds (n). Compare a loss with itself '
             'across K: the losses have different scales.', '']
    header = ' | '.join(f'K={k}' for k in d_steps)
    for g_state in dict.fromkeys(row['g_state'] for row in rows):
        mine = [row for row in rows if row['g_state'] == g_state]
        lines += [f'## G {g_state}', '', f'| G loss | n | {header} |',
                  '| --- | ---: |' + ' ---: |' * len(d_steps)]
        for loss in dict.fromkeys(row['loss'] for row in mine):
            of_loss = [row for row in mine if row['loss'] == loss]
            cells = [_mean_std([r['g_grad_norm'] for r in of_loss if int(r['d_steps']) == k])
                     for k in d_steps]
            lines.append(f'| {loss} | {len({r["seed"] for r in of_loss})} | '
                         + ' | '.join(cells) + ' |')
        # The D-side figures repeat on every loss row of a block: one per (seed, D, K).
        d_side = {(r['seed'], r['d_model'], int(r['d_steps'])): r for r in mine}.values()
        lines += ['', f'| D: mean norm of grad_x D(G(z)) at | {header} | mean D(x) | mean D(G(z)) |',
                  '| --- |' + ' ---: |' * (len(d_steps) + 2)]
        for d_model in dict.fromkeys(r['d_model'] for r in d_side):
            of_d = [r for r in d_side if r['d_model'] == d_model]
            last = [r for r in of_d if int(r['d_steps']) == d_steps[-1]]
            cells = [_mean_std([r['d_grad_x_norm'] for r in of_d if int(r['d_steps']) == k])
                     for k in d_steps]
            cells += [_mean_std([r[name] for r in last]) for name in ('d_real_mean', 'd_fake_mean')]
            lines.append(f'| {d_model} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    return '\n'.join(lines)


def _mean_std(values):
    values = np.array(values, dtype=float)
    if len(values) == 0:
        return '-'
    return f'{values.mean():.3g} +- {values.std(ddof=1):.2g}' if len(values) > 1 else f'{values[0]:.3g}'


def run(f, images):
    """--mode=gradcheck on the training images `images` (uint8)."""
    out = Path(f.out_dir) / 'gradcheck'
    real_images = data.to_model_range(images)
    trained = trained_generator_path(f)
    if not trained:
        logging.warning('No checkpoint of %s in %s: measuring the initial G only (train that run '
                        'first for the trained-G half).', flags.run_name(f), f.checkpoint_dir)
    g_states = {'at initialisation': None,
                **({f'trained ({flags.run_name(f)})': trained} if trained else {})}
    path = out / 'gradcheck.csv'
    rows = read_rows(path)
    done = {(r['g_state'], r['seed'], r['d_model']) for r in rows}
    settings = generator_losses(f)
    for seed in (int(s) for s in f.seeds):  # seed by seed: an interrupted run has whole seeds
        for g_state, checkpoint in g_states.items():
            G = frozen_generator(f, seed, checkpoint)
            for d_model, g_settings in settings.items():
                if (g_state, str(seed), d_model) in done:
                    continue
                logging.info('G %s, seed %d, D %s', g_state, seed, d_model)
                rows += [{'g_state': g_state, 'seed': seed, **row}
                         for row in measure_block(f, G, d_model, g_settings, real_images, seed)]
                utils.write_atomically(path, lambda tmp: write_rows(tmp, rows))
    d_steps = sorted({int(k) for k in f.gradcheck_steps})
    rows = [row for row in read_rows(path) if int(row['d_steps']) in d_steps]
    utils.write_atomically(out / 'gradcheck.md', lambda tmp: tmp.write_text(
        summary_table(rows, d_steps)))
    compare.gradcheck_figure(rows, d_steps, out / 'gradcheck.png')
    logging.info('Wrote %s, gradcheck.md and gradcheck.png', path)


def write_rows(path, rows):
    with path.open('w', newline='') as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
