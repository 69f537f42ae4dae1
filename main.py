"""Train a GAN of the LSGAN study on MNIST: `python main.py --model=lsgan_reg --a=-1 --b=1 --c=0`.

Every epoch writes an 8x8 grid of G(z_fixed) to samples/<run>/epoch_NNN.png and a checkpoint
to checkpoints/<run>/. Re-running the same command resumes where the last checkpoint ended.
"""
import itertools
import json
import os
import sys
import time
import types
import warnings
from typing import NamedTuple

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TensorFlow loads: no C++ info chatter
warnings.filterwarnings('ignore', message='distutils Version classes are deprecated')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, logging  # noqa: E402

import compare  # noqa: E402
import data  # noqa: E402
import flags  # noqa: E402
import losses  # noqa: E402
import metrics  # noqa: E402
import model  # noqa: E402
import utils  # noqa: E402

FLAGS = flags.FLAGS


class ForwardPass(NamedTuple):
    """What one forward pass computes: the images, D's scores and D's last hidden features."""
    real: tf.Tensor
    fake: tf.Tensor
    d_real: tf.Tensor
    d_fake: tf.Tensor
    f_real: tf.Tensor
    f_fake: tf.Tensor


def objectives(f, D, noise):
    """(D's loss, G's loss) for --model, each a function of a ForwardPass."""
    def gan_d(p):
        return losses.gan_discriminator_loss(p.d_real, p.d_fake, 1.0 - f.label_smoothing)

    def wgan_d(p):
        return losses.wasserstein_critic_loss(p.d_real, p.d_fake)

    def wgan_gp_d(p):
        shape = [f.batch_size if f.gp_epsilon == 'per_sample' else 1, 1, 1, 1]
        penalty = losses.gradient_penalty(lambda x: D(x)[0], p.real, p.fake, noise.uniform(shape))
        return wgan_d(p) + f.gp_lambda * penalty

    def lsgan_d(p):
        return losses.lsgan_discriminator_loss(p.d_real, p.d_fake, a=f.a, b=f.b)

    def improved_gan_g(p):
        if f.feature_matching:
            return losses.feature_matching_loss(p.f_real, p.f_fake)
        return losses.gan_nonsaturating_generator_loss(p.d_fake)

    gan_g = {'minimax': losses.gan_minimax_generator_loss,
             'ns': losses.gan_nonsaturating_generator_loss}[f.gan_loss]
    return {
        'gan': (gan_d, lambda p: gan_g(p.d_fake)),
        'improved_gan': (gan_d, improved_gan_g),
        'wgan': (wgan_d, lambda p: losses.wasserstein_generator_loss(p.d_fake)),
        'wgan_gp': (wgan_gp_d, lambda p: losses.wasserstein_generator_loss(p.d_fake)),
        'lsgan': (lsgan_d, lambda p: losses.lsgan_generator_loss(p.d_fake, f.c)),
        'lsgan_reg': (lsgan_d, lambda p: losses.lsgan_reg_generator_loss(
            p.d_real, p.d_fake, f.c, f.lam)),
    }[f.model]


def generator_loss_parts(f):
    """The terms of G's loss whose gradients are logged apart ({} when it has one term)."""
    if f.model == 'lsgan_reg':
        return {'lsgan': lambda p: losses.lsgan_generator_loss(p.d_fake, f.c),
                'reg': lambda p: f.lam * losses.mean_matching_penalty(p.d_real, p.d_fake)}
    return {}


def make_optimizer(f):
    if f.optimizer == 'rmsprop':
        return tf.keras.optimizers.RMSprop(f.lr)
    return tf.keras.optimizers.Adam(f.lr, beta_1=f.beta1, beta_2=f.beta2)


def make_train_step(G, D, g_opt, d_opt, noise, f):
    """The training step: a forward pass, then an update of D and/or G.

    `update_d` and `update_g` are Python booleans, so each combination is traced once. With
    both (the slides' joint schedule) G(z), D(x), D(G(z)) are computed once and each player's
    loss is differentiated with respect to its own weights only, as in the course project's
    code. The alternating schedule calls it with D alone, then with G alone.
    """
    d_objective, g_objective = objectives(f, D, noise)
    g_parts = generator_loss_parts(f)
    clipped = D.trainable_weights if f.clip_scope == 'all' else model.kernels_and_biases(D)

    @tf.function(jit_compile=f.xla)
    def train_step(real, update_d, update_g, probe=False):
        """`probe` adds gradient diagnostics from the same forward pass (no extra update):
        the norm of G's loss gradient (and of each part's), and the mean norm over generated
        samples of grad_x D(x), the signal the slides argue vanishes."""
        G.train()  # TL reads the mode while tracing: set it inside so every trace trains
        D.train()
        z = noise.normal([f.batch_size, f.z_dim])
        with tf.GradientTape(persistent=True) as tape:
            fake = G(z)
            (d_real, f_real), (d_fake, f_fake) = D(real), D(fake)
            p = ForwardPass(real, fake, d_real, d_fake, f_real, f_fake)
            out = {'g_loss': g_objective(p)}
            if update_d:
                out['d_loss'] = d_objective(p)
            parts = {name: part(p) for name, part in g_parts.items()} if probe else {}
        if update_g or probe:
            g_grads = tape.gradient(out['g_loss'], G.trainable_weights)
        if probe:
            out['g_grad_norm'] = tf.linalg.global_norm(g_grads)
            for name, value in parts.items():
                out[f'g_grad_norm_{name}'] = tf.linalg.global_norm(
                    tape.gradient(value, G.trainable_weights))
            grad_x = tf.reshape(tape.gradient(d_fake, fake), [f.batch_size, -1])
            out['d_grad_x_norm'] = tf.reduce_mean(tf.norm(grad_x, axis=1))
        if update_g:
            g_opt.apply_gradients(zip(g_grads, G.trainable_weights))
        if update_d:
            d_opt.apply_gradients(zip(tape.gradient(out['d_loss'], D.trainable_weights),
                                      D.trainable_weights))
            if f.model == 'wgan':
                for w in clipped:
                    w.assign(tf.clip_by_value(w, -f.clip, f.clip))
        return out

    return train_step


def make_sampler(G, xla=False):
    @tf.function(jit_compile=xla)
    def sample(z):
        G.eval()  # moving BatchNorm statistics, no update
        return G(z)

    return sample


def load_data_or_fail(f):
    """(uint8 images, labels, run record); every check happens before anything is written."""
    try:
        images, labels, source = data.load_training_images(f.dataset, f.data_dir, f.download)
    except data.DataError as error:
        flags.fail(error)
    steps_per_epoch = len(images) // f.batch_size
    if steps_per_epoch == 0:
        flags.fail(f'--batch_size={f.batch_size} exceeds the {len(images)} training images')
    record = {**flags.run_definition(f), 'data_source': source, 'n_images': len(images),
              'steps_per_epoch': steps_per_epoch}
    return images, labels, record


def all_finite(variables):
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables)


def draw_comparison(f):
    """--mode=compare: figures of --seed's runs, and tables and curves over --seeds."""
    def runs_of(seed):
        with_seed = types.SimpleNamespace(**{**f.flag_values_dict(), 'seed': seed})
        return {m: flags.run_name(with_seed, model=m) for m in flags.MODELS}

    runs = runs_of(f.seed)
    runs_by_seed = {int(seed): runs_of(int(seed)) for seed in f.seeds}
    epoch = f.compare_epoch or f.epochs
    out = os.path.join(f.out_dir, f'seed{f.seed}')
    os.makedirs(out, exist_ok=True)
    try:
        compare.figure1(runs, f.sample_dir, epoch, os.path.join(out, 'figure1.png'))
        compare.figure2(runs['lsgan'], runs['lsgan_reg'], f.sample_dir,
                        [int(e) for e in f.figure2_epochs], os.path.join(out, 'figure2.png'))
        compare.loss_curves(runs, f.checkpoint_dir, os.path.join(out, 'losses.png'))
        compare.gradient_curves(runs, f.checkpoint_dir, os.path.join(out, 'gradients.png'))
    except FileNotFoundError as error:
        flags.fail(error)
    for model, run in runs.items():
        compare.animate(f.sample_dir, run, os.path.join(out, f'{model}.gif'))
    compare.metric_curves(runs_by_seed, f.checkpoint_dir, os.path.join(f.out_dir, 'metrics.png'))
    table = compare.results_table(runs_by_seed, f.checkpoint_dir, epoch)
    utils.write_atomically(os.path.join(f.out_dir, 'RESULTS.md'), lambda tmp: tmp.write_text(table))
    logging.info('Figures written to %s, RESULTS.md and metrics.png to %s', out, f.out_dir)


class Trainable(NamedTuple):
    """Everything a checkpoint holds, and its manager."""
    G: object
    D: object
    g_opt: object
    d_opt: object
    step: tf.Variable
    noise: tf.random.Generator
    manager: tf.train.CheckpointManager


def build(f, ckpt_dir):
    if f.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(f.seed)
    G = model.generator(f.z_dim, f.gf_dim)
    D = model.discriminator(f.df_dim, f.critic_norm, f.minibatch_disc)
    g_opt, d_opt = make_optimizer(f), make_optimizer(f)
    # Built now, not lazily in a trace: the alternating schedule traces the step twice.
    g_opt.build(G.trainable_weights)
    d_opt.build(D.trainable_weights)
    step = tf.Variable(0, dtype=tf.int64, name='step')
    noise = tf.random.Generator.from_seed(f.seed)  # z and GP coefficients; checkpointed
    manager = utils.checkpoint_manager(ckpt_dir, f.keep_checkpoints, G=G.all_weights,
                                       D=D.all_weights, g_opt=g_opt, d_opt=d_opt, step=step,
                                       noise=noise)
    try:
        utils.restore_newest_readable(manager)
    except RuntimeError as error:
        flags.fail(error)
    return Trainable(G, D, g_opt, d_opt, step, noise, manager)


def generate(sample, n, z_dim, seed, batch_size=500):
    """n images in [-1, 1] from a z set fixed by the seed (the same for every epoch's metrics)."""
    z = np.random.default_rng([seed, 1]).standard_normal((n, z_dim), np.float32)
    return np.concatenate([sample(z[i:i + batch_size]).numpy() for i in range(0, n, batch_size)])


def score_or_generate(f, run, ckpt_dir):
    """--mode=eval: the metrics of the run's newest checkpoint; --mode=generate: --n samples
    from it, as uint8 (n, 28, 28) under key `x` of --out."""
    if not tf.train.latest_checkpoint(ckpt_dir):
        flags.fail(f'no checkpoint of run {run} in {ckpt_dir}')
    t = build(f, ckpt_dir)
    sample = make_sampler(t.G, f.xla)
    if f.mode == 'generate':
        images = utils.to_uint8(generate(sample, f.n, f.z_dim, f.seed))[..., 0]
        def write(tmp):
            with open(tmp, 'wb') as file:  # a file object: np.savez would append .npz to a path
                np.savez_compressed(file, x=images)

        utils.write_atomically(f.out, write)
        logging.info('%d samples of %s at step %d written to %s', f.n, run, int(t.step), f.out)
        return
    images, labels, _ = load_data_or_fail(f)
    scorer = metrics.Scorer(images, labels, f.checkpoint_dir, f.dataset)
    scores = scorer.score(generate(sample, f.eval_n, f.z_dim, f.seed))
    epoch = -(-int(t.step) // (len(images) // f.batch_size))  # the epoch the step ends or is in
    record = utils.CsvLog(os.path.join(ckpt_dir, 'metrics.csv'), ['step', 'epoch', *metrics.NAMES],
                          resume_step=int(t.step) - 1)  # replaces a row of this step, if any
    record.write({'step': int(t.step), 'epoch': epoch, **scores})
    record.close()
    print(json.dumps({'run': run, 'step': int(t.step), 'epoch': epoch, **scores}, indent=1))


def main(argv):
    del argv
    f = FLAGS
    if f.mode == 'compare':
        return draw_comparison(f)
    run = flags.run_name(f)
    ckpt_dir = os.path.join(f.checkpoint_dir, run)
    if f.mode in ('eval', 'generate'):
        return score_or_generate(f, run, ckpt_dir)
    sample_dir = os.path.join(f.sample_dir, run)
    images, labels, record = load_data_or_fail(f)
    steps_per_epoch = record['steps_per_epoch']
    try:
        utils.check_or_record_run(os.path.join(ckpt_dir, 'run.json'), record,
                                  [*flags.RUN_DEFINING, 'n_images'])
    except utils.RunMismatch as error:
        flags.fail(error)

    G, D, g_opt, d_opt, step, noise, manager = build(f, ckpt_dir)
    total_steps = f.epochs * steps_per_epoch
    if f.max_steps:
        total_steps = min(total_steps, f.max_steps)
    if manager.latest_checkpoint:
        logging.info('Resuming %s from step %d (epoch %d, batch %d of %d).', run, int(step),
                     int(step) // steps_per_epoch + 1, int(step) % steps_per_epoch,
                     steps_per_epoch)
    if int(step) >= total_steps:
        logging.info('%s already trained for %d steps: nothing to do.', run, int(step))
        return

    train_step = make_train_step(G, D, g_opt, d_opt, noise, f)
    sample = make_sampler(G, f.xla)
    fixed_z = np.random.default_rng(f.seed).standard_normal((f.sample_size, f.z_dim), np.float32)
    real_images = data.to_model_range(images)
    scorer = metrics.Scorer(images, labels, f.checkpoint_dir, f.dataset) if f.eval_every else None
    log = utils.CsvLog(os.path.join(ckpt_dir, 'losses.csv'),
                       ['step', 'epoch', 'd_loss', 'g_loss', 'wall_s'], resume_step=int(step))
    metrics_log = utils.CsvLog(os.path.join(ckpt_dir, 'metrics.csv'),
                               ['step', 'epoch', *metrics.NAMES], resume_step=int(step))
    grad_log = utils.CsvLog(os.path.join(ckpt_dir, 'gradients.csv'),
                            ['step', 'epoch', 'g_grad_norm',
                             *(f'g_grad_norm_{name}' for name in generator_loss_parts(f)),
                             'd_grad_x_norm'], resume_step=int(step))
    board = tf.summary.create_file_writer(os.path.join(ckpt_dir, 'tensorboard'))
    # wall_s: seconds of this run's training loops so far, summed over resumed invocations.
    wall_before = float(log.last_row.get('wall_s') or 0) if log.last_row else 0.0
    logging.info('Settings: %s', '  '.join(f'{k}={v}' for k, v in flags.settings(f).items()))
    logging.info('Training %s: %d epochs of %d steps, batch %d, checkpoints in %s, samples in %s',
                 run, f.epochs, steps_per_epoch, f.batch_size, ckpt_dir, sample_dir)

    def save_checkpoint():
        if not all_finite(G.all_weights + D.all_weights):
            sys.exit(f'main.py: error: non-finite weights at step {int(step)}; not saved, the '
                     f'last good checkpoint is {manager.latest_checkpoint}')
        for csv_log in (log, metrics_log, grad_log):  # logs on disk cover the newest checkpoint
            csv_log.flush()
        manager.save(checkpoint_number=int(step))

    batches = iter(data.training_batches(real_images, f.batch_size, f.seed, int(step),
                                         total_steps - int(step)))
    start, started, in_steps = int(step), time.perf_counter(), 0.0
    while int(step) < total_steps:
        epoch = int(step) // steps_per_epoch
        epoch_end = min((epoch + 1) * steps_per_epoch, total_steps)
        tick, tick_step = time.perf_counter(), int(step)
        for real in itertools.islice(batches, epoch_end - int(step)):
            g_turn = (int(step) + 1) % f.n_critic == 0
            probe = bool(f.grad_every) and (int(step) + 1) % f.grad_every == 0
            step_started = time.perf_counter()
            if f.schedule == 'joint':
                out = train_step(real, update_d=True, update_g=g_turn, probe=probe)
            else:
                out = train_step(real, update_d=True, update_g=False, probe=probe)
                if g_turn:
                    out.update(train_step(real, update_d=False, update_g=True))
            step.assign_add(1)
            values = {k: float(out[k]) for k in ('d_loss', 'g_loss')}  # waits for the step
            in_steps += time.perf_counter() - step_started
            if probe:
                grad_log.write({'step': int(step), 'epoch': epoch + 1,
                                **{k: float(v) for k, v in out.items() if 'grad' in k}})
            for name, value in values.items():
                if not np.isfinite(value):
                    sys.exit(f'main.py: error: {name} is {value} at step {int(step)}; stopped, '
                             f'the last good checkpoint is {manager.latest_checkpoint}')
            log.write({'step': int(step), 'epoch': epoch + 1, **values,
                       'wall_s': round(wall_before + time.perf_counter() - started, 3)})
            if int(step) % f.log_every == 0:
                rate = (int(step) - tick_step) / (time.perf_counter() - tick)
                logging.info('step %d/%d  epoch %d  %s  %.2f steps/s', int(step), total_steps,
                             epoch + 1, '  '.join(f'{k} {v:.4f}' for k, v in values.items()), rate)
                tick, tick_step = time.perf_counter(), int(step)
                with board.as_default(step=int(step)):
                    for name, value in values.items():
                        tf.summary.scalar(name, value)
            mid_epoch = int(step) < epoch_end  # the epoch end saves anyway
            if f.checkpoint_every and int(step) % f.checkpoint_every == 0 and mid_epoch:
                save_checkpoint()
        grid_start = time.perf_counter()
        grid = sample(fixed_z).numpy()
        utils.save_grid(grid, os.path.join(sample_dir, f'epoch_{epoch + 1:03d}.png'))
        with board.as_default(step=int(step)):
            tf.summary.image('samples', utils.image_grid(grid)[None, ..., None], max_outputs=1)
            if scorer and (epoch + 1) % f.eval_every == 0:
                scores = scorer.score(generate(sample, f.eval_n, f.z_dim, f.seed))
                metrics_log.write({'step': int(step), 'epoch': epoch + 1, **scores})
                for name in metrics.HEADLINE:
                    tf.summary.scalar(name, scores[name])
                logging.info('Epoch %d metrics: %s', epoch + 1, '  '.join(
                    f'{name} {scores[name]:.3f}' for name in metrics.HEADLINE))
        checkpoint_start = time.perf_counter()
        save_checkpoint()
        logging.info('Epoch %d done at step %d: grid, metrics %.1f s, checkpoint %.1f s.',
                     epoch + 1, int(step), checkpoint_start - grid_start,
                     time.perf_counter() - checkpoint_start)
    for csv_log in (log, metrics_log, grad_log):
        csv_log.close()
    elapsed = time.perf_counter() - started
    logging.info('Finished %s: %d steps in %.0f s this invocation, %.1f%% of it outside the '
                 'training steps (data, grids, metrics, checkpoints, logs).', run,
                 int(step) - start, elapsed, 100 * (1 - in_steps / elapsed))


if __name__ == '__main__':
    app.run(main, flags_parser=flags.parse_or_exit)
