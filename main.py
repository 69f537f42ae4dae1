"""Train a GAN of the LSGAN study on MNIST: `python main.py --model=lsgan_reg --a=-1 --b=1 --c=0`.

Every epoch writes an 8x8 grid of G(z_fixed) to samples/<run>/epoch_NNN.png and a checkpoint
to checkpoints/<run>/. Re-running the same command resumes where the last checkpoint ended.
"""
import itertools
import json
import os
import sys
import time
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
import gradcheck  # noqa: E402
import metrics  # noqa: E402
import model  # noqa: E402
import toy  # noqa: E402
import training  # noqa: E402
import utils  # noqa: E402

FLAGS = flags.FLAGS


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
        return {m: flags.run_name(flags.variant(f, seed=seed), model=m) for m in flags.MODELS}

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
    for model_name, run in runs.items():
        compare.animate(f.sample_dir, run, os.path.join(out, f'{model_name}.gif'))
    compare.metric_curves(runs_by_seed, f.checkpoint_dir, os.path.join(f.out_dir, 'metrics.png'))
    # One table per epoch of Figure 2 and Figure 1: early epochs may have more seeds than the last.
    epochs = sorted({epoch, *(int(e) for e in f.figure2_epochs)})
    table = '# Results of the study\n\n' + '\n'.join(
        compare.results_table(runs_by_seed, f.checkpoint_dir, e) for e in epochs)
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
    g_opt, d_opt = training.make_optimizer(f), training.make_optimizer(f)
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
    sample = training.make_sampler(t.G, f.xla)
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


class RunLogs(NamedTuple):
    """The run's per-step and per-epoch records: CSV files beside the checkpoints, TensorBoard."""
    losses: utils.CsvLog
    metrics: utils.CsvLog
    gradients: utils.CsvLog
    board: object

    def flush(self):
        for log in self[:3]:
            log.flush()

    def close(self):
        for log in self[:3]:
            log.close()


def open_logs(f, ckpt_dir, step):
    """Logs that continue from `step`: rows a crash left past the checkpoint are dropped."""
    def csv(name, columns):
        return utils.CsvLog(os.path.join(ckpt_dir, name), ['step', 'epoch', *columns],
                            resume_step=step)

    parts = [f'g_grad_norm_{name}' for name in training.generator_loss_parts(f)]
    return RunLogs(csv('losses.csv', ['d_loss', 'g_loss', 'wall_s']),
                   csv('metrics.csv', metrics.NAMES),
                   csv('gradients.csv', ['g_grad_norm', *parts, 'd_grad_x_norm']),
                   tf.summary.create_file_writer(os.path.join(ckpt_dir, 'tensorboard')))


def end_epoch(f, sample, fixed_z, scorer, logs, step, epoch, sample_dir):
    """The epoch's sample grid (PNG and TensorBoard) and, every --eval_every epochs, its metrics."""
    grid = sample(fixed_z).numpy()
    utils.save_grid(grid, os.path.join(sample_dir, f'epoch_{epoch:03d}.png'))
    with logs.board.as_default(step=step):
        tf.summary.image('samples', utils.image_grid(grid)[None, ..., None], max_outputs=1)
        if scorer and epoch % f.eval_every == 0:
            scores = scorer.score(generate(sample, f.eval_n, f.z_dim, f.seed))
            logs.metrics.write({'step': step, 'epoch': epoch, **scores})
            for name in metrics.HEADLINE:
                tf.summary.scalar(name, scores[name])
            logging.info('Epoch %d metrics: %s', epoch, '  '.join(
                f'{name} {scores[name]:.3f}' for name in metrics.HEADLINE))


def train(f, run, ckpt_dir):
    """--mode=train: train --model from its newest checkpoint (or from scratch) to --epochs."""
    sample_dir = os.path.join(f.sample_dir, run)
    images, labels, record = load_data_or_fail(f)
    steps_per_epoch = record['steps_per_epoch']
    try:
        utils.check_or_record_run(os.path.join(ckpt_dir, 'run.json'), record,
                                  [*flags.RUN_DEFINING, 'n_images'])
    except utils.RunMismatch as error:
        flags.fail(error)

    if training.use_mixed_precision(f.mixed_precision):
        f.xla = False  # XLA compiles the float32 graph: the rewrite would never apply
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

    train_step = training.make_train_step(G, D, g_opt, d_opt, noise, f)
    sample = training.make_sampler(G, f.xla)
    fixed_z = np.random.default_rng(f.seed).standard_normal((f.sample_size, f.z_dim), np.float32)
    scorer = metrics.Scorer(images, labels, f.checkpoint_dir, f.dataset) if f.eval_every else None
    logs = open_logs(f, ckpt_dir, int(step))
    # wall_s: seconds of this run's training loops so far, summed over resumed invocations.
    wall_before = float(logs.losses.last_row.get('wall_s') or 0) if logs.losses.last_row else 0.0
    logging.info('Settings: %s', '  '.join(f'{k}={v}' for k, v in flags.settings(f).items()))
    logging.info('Training %s: %d epochs of %d steps, batch %d, checkpoints in %s, samples in %s',
                 run, f.epochs, steps_per_epoch, f.batch_size, ckpt_dir, sample_dir)

    def save_checkpoint():
        if not all_finite(G.all_weights + D.all_weights):
            sys.exit(f'main.py: error: non-finite weights at step {int(step)}; not saved, the '
                     f'last good checkpoint is {manager.latest_checkpoint}')
        logs.flush()  # the logs on disk cover the newest checkpoint
        manager.save(checkpoint_number=int(step))

    batches = iter(data.training_batches(data.to_model_range(images), f.batch_size, f.seed,
                                         int(step), total_steps - int(step)))
    start, started, in_steps = int(step), time.perf_counter(), 0.0
    while int(step) < total_steps:
        epoch = int(step) // steps_per_epoch + 1
        epoch_end = min(epoch * steps_per_epoch, total_steps)
        tick, tick_step = time.perf_counter(), int(step)
        for real in itertools.islice(batches, epoch_end - int(step)):
            step_started = time.perf_counter()
            out = training.take_step(train_step, f, real, int(step) + 1)
            step.assign_add(1)
            values = {k: float(out[k]) for k in ('d_loss', 'g_loss')}  # waits for the step
            in_steps += time.perf_counter() - step_started
            if 'g_grad_norm' in out:
                logs.gradients.write({'step': int(step), 'epoch': epoch,
                                      **{k: float(v) for k, v in out.items() if 'grad' in k}})
            for name, value in values.items():
                if not np.isfinite(value):
                    sys.exit(f'main.py: error: {name} is {value} at step {int(step)}; stopped, '
                             f'the last good checkpoint is {manager.latest_checkpoint}')
            logs.losses.write({'step': int(step), 'epoch': epoch, **values,
                               'wall_s': round(wall_before + time.perf_counter() - started, 3)})
            if int(step) % f.log_every == 0:
                rate = (int(step) - tick_step) / (time.perf_counter() - tick)
                logging.info('step %d/%d  epoch %d  %s  %.2f steps/s', int(step), total_steps,
                             epoch, '  '.join(f'{k} {v:.4f}' for k, v in values.items()), rate)
                tick, tick_step = time.perf_counter(), int(step)
                with logs.board.as_default(step=int(step)):
                    for name, value in values.items():
                        tf.summary.scalar(name, value)
            mid_epoch = int(step) < epoch_end  # the epoch end saves anyway
            if f.checkpoint_every and int(step) % f.checkpoint_every == 0 and mid_epoch:
                save_checkpoint()
        grid_start = time.perf_counter()
        end_epoch(f, sample, fixed_z, scorer, logs, int(step), epoch, sample_dir)
        checkpoint_start = time.perf_counter()
        save_checkpoint()
        logging.info('Epoch %d done at step %d: grid, metrics %.1f s, checkpoint %.1f s.',
                     epoch, int(step), checkpoint_start - grid_start,
                     time.perf_counter() - checkpoint_start)
    logs.close()
    elapsed = time.perf_counter() - started
    logging.info('Finished %s: %d steps in %.0f s this invocation, %.1f%% of it outside the '
                 'training steps (data, grids, metrics, checkpoints, logs).', run,
                 int(step) - start, elapsed, 100 * (1 - in_steps / elapsed))


def main(argv):
    del argv
    f = FLAGS
    if f.mode == 'compare':
        return draw_comparison(f)
    if f.mode == 'gradcheck' and f.gradcheck_data == 'images':
        return gradcheck.run(f, gradcheck.image_problem(f, load_data_or_fail(f)[0]))
    if f.mode == 'gradcheck':
        return gradcheck.run(f, gradcheck.toy_problem(f))
    if f.mode == 'toy':
        return toy.run(f)
    run = flags.run_name(f)
    ckpt_dir = os.path.join(f.checkpoint_dir, run)
    if f.mode in ('eval', 'generate'):
        return score_or_generate(f, run, ckpt_dir)
    return train(f, run, ckpt_dir)


if __name__ == '__main__':
    app.run(main, flags_parser=flags.parse_or_exit)
