"""The training loop of one run (--mode=train): resume from the newest checkpoint, take steps,
log, and at each epoch's end write the sample grid, the metrics and a checkpoint.

Files of a run <run> (named by config.run_name):
  checkpoints/<run>/  run.json, ckpt-*, losses.csv, metrics.csv, gradients.csv, final.json,
                      train.log, tensorboard/, lock (while a process trains it)
  samples/<run>/      epoch_NNN.png, samples_1000_epoch_NNN.npz (epochs of --keep_samples_at),
                      final_1000.npz
"""
import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from absl import logging

import config
import data
import gan_step
import metrics
import registry
import utils

FINAL_N = 1000  # samples kept at the end of a run (final_1000.npz)


class State(NamedTuple):
    """Everything a checkpoint holds, and its manager."""
    players: gan_step.Players
    step: tf.Variable
    noise: tf.random.Generator
    manager: tf.train.CheckpointManager


def restore_state(cfg, ckpt_dir):
    """The run's players, step counter and random generator, from its newest readable
    checkpoint if there is one."""
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(cfg.seed)
    players = gan_step.players(cfg, *gan_step.image_networks(cfg))
    step = tf.Variable(0, dtype=tf.int64, name='step')
    noise = tf.random.Generator.from_seed(cfg.seed)  # z and GP coefficients; checkpointed
    manager = utils.checkpoint_manager(ckpt_dir, cfg.keep_checkpoints, G=players.G.all_weights,
                                       D=players.D.all_weights, g_opt=players.g_opt,
                                       d_opt=players.d_opt, step=step, noise=noise)
    try:
        utils.restore_newest_readable(manager)
    except RuntimeError as error:
        utils.fail(error)
    return State(players, step, noise, manager)


def eval_z(cfg, n, z_set=1):
    """A fixed set of n latent vectors (the same at every epoch); z_set=2 is a disjoint one."""
    return np.random.default_rng([cfg.seed, z_set]).standard_normal((n, cfg.z_dim), np.float32)


def generate(sample, z, batch_size=500):
    """G(z) in [-1, 1], in batches."""
    return np.concatenate([sample(z[i:i + batch_size]).numpy() for i in range(0, len(z), batch_size)])


def save_samples(images, path):
    """uint8 (n, 28, 28) under key x of an .npz, written atomically."""
    def write(tmp):
        with open(tmp, 'wb') as file:  # a file object: np.savez would append .npz to a path
            np.savez_compressed(file, x=utils.to_uint8(images)[..., 0])

    utils.write_atomically(path, write)


class RunLogs(NamedTuple):
    """The run's per-step and per-epoch records: CSV files beside the checkpoints, TensorBoard."""
    losses: utils.CsvLog
    metrics: utils.CsvLog
    gradients: utils.CsvLog
    board: object

    def flush(self):
        for log in self[:3]:
            log.flush()

    def __enter__(self):
        return self

    def __exit__(self, error_type, *_):
        for log in self[:3]:
            try:
                log.close()
            except OSError:
                if error_type is None:
                    raise  # else rows a full disk kept in the buffer are dropped: the error
                    # on its way out says what happened, and they lie past the last checkpoint


def open_logs(cfg, ckpt_dir, step):
    """Logs that continue from `step`: rows a crash left past the checkpoint are dropped."""
    def csv(name, columns):
        return utils.CsvLog(Path(ckpt_dir) / name, ['step', 'epoch', *columns], resume_step=step)

    return RunLogs(csv('losses.csv', [*gan_step.log_columns(cfg.spec), 'wall_s']),
                   csv('metrics.csv', metrics.NAMES),
                   csv('gradients.csv', gan_step.probe_columns(cfg.spec)),
                   tf.summary.create_file_writer(os.path.join(ckpt_dir, 'tensorboard')))


def end_epoch(cfg, sample, scorer, logs, step, epoch, sample_dir, final):
    """The epoch's sample grid (PNG and TensorBoard), at the epochs of cfg.keep_samples_at its
    1,000 evaluation samples, and, every cfg.eval_every epochs and at the run's end, its
    metrics. Returns (the samples of the fixed evaluation z, their scores), or
    (None, None) when no metrics were due."""
    grid = sample(eval_z(cfg, cfg.sample_size, z_set=0)).numpy()
    utils.save_grid(grid, Path(sample_dir) / f'epoch_{epoch:03d}.png')
    images = scores = None
    metrics_due = scorer and epoch % cfg.eval_every == 0
    with logs.board.as_default(step=step):
        tf.summary.image('samples', utils.image_grid(grid)[None, ..., None], max_outputs=1)
        keep = epoch in cfg.keep_samples_at
        if final or metrics_due or keep:
            images = generate(sample, eval_z(cfg, max(cfg.eval_n, FINAL_N)))
        if keep:  # so that anyone can score the early epochs with a classifier of their own
            save_samples(images[:FINAL_N], Path(sample_dir) / f'samples_{FINAL_N}_epoch_{epoch:03d}.npz')
        if metrics_due:
            scores = scorer.score(images[:cfg.eval_n])
            logs.metrics.write({'step': step, 'epoch': epoch, **scores})
            for name in metrics.HEADLINE:
                tf.summary.scalar(name, scores[name])
            logging.info('Epoch %d metrics: %s', epoch, '  '.join(
                f'{name} {scores[name]:.3f}' for name in metrics.HEADLINE))
    return images, scores


def finish_run(cfg, sample, scorer, images, scores, ckpt_dir, sample_dir, step):
    """The final samples anyone can score (final_1000.npz, from the fixed evaluation z, i.e.
    the last epoch's `images`) and the FID of a second, disjoint z set: the metric's noise
    level for this G, beside the last epoch's FID (`scores`, computed here if it was not due)."""
    save_samples(images[:FINAL_N], Path(sample_dir) / f'final_{FINAL_N}.npz')
    if scorer:
        scores = scores or scorer.score(images[:cfg.eval_n])
        record = {'step': step, 'fid': scores['fid'],
                  'fid_second_z': scorer.score(generate(sample, eval_z(cfg, cfg.eval_n, 2)))['fid']}
        utils.write_atomically(Path(ckpt_dir) / 'final.json',
                               lambda tmp: tmp.write_text(json.dumps(record, indent=1) + '\n'))


def total_steps(cfg, steps_per_epoch):
    """The step a run ends at: --epochs, or --max_steps if it comes first."""
    steps = cfg.epochs * steps_per_epoch
    return min(steps, cfg.max_steps) if cfg.max_steps else steps


def finished(cfg):
    """Whether the run `cfg` names has a checkpoint at its last step (checkpoints are numbered
    by step); a larger --epochs or --max_steps makes a finished run unfinished again."""
    ckpt_dir = Path(cfg.checkpoint_dir) / config.run_name(cfg)
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    if not latest:
        return False
    steps_per_epoch = json.loads((ckpt_dir / 'run.json').read_text())['steps_per_epoch']
    return int(latest.rsplit('-', 1)[1]) >= total_steps(cfg, steps_per_epoch)


def merged(cfg, runs_dir):
    """Whether the small results of the run `cfg` names, as `run_study.sh --merge` copied them
    to runs_dir, reach its last step (losses.csv's last row): a finished run whose checkpoints
    are gone (a new machine, a fresh clone) need not train again."""
    run_dir = Path(runs_dir) / config.run_name(cfg)
    rows = utils.read_csv(run_dir / 'losses.csv')
    if not rows or not (run_dir / 'run.json').exists():
        return False
    steps_per_epoch = json.loads((run_dir / 'run.json').read_text())['steps_per_epoch']
    return int(rows[-1]['step']) >= total_steps(cfg, steps_per_epoch)


class Progress:
    """Progress lines: the rate since the previous line (what the machine does now) and the time
    left for the run at a smoothed rate (each line moves it by SMOOTHING of the way), so that
    one slow stretch (an epoch end's metrics, a pause) shifts the ETA a little, not wholly."""
    SMOOTHING = 0.1

    def __init__(self, step, total_steps):
        self.total_steps = total_steps
        self.tick, self.tick_step = time.perf_counter(), step
        self.smoothed = None

    def line(self, step, epoch, values):
        now = time.perf_counter()
        rate = (step - self.tick_step) / max(now - self.tick, 1e-9)
        self.tick, self.tick_step = now, step
        self.smoothed = rate if self.smoothed is None else (
            self.smoothed + self.SMOOTHING * (rate - self.smoothed))
        eta = (self.total_steps - step) / self.smoothed if self.smoothed else float('inf')
        losses = '  '.join(f'{k} {v:.4f}' for k, v in values.items())
        return (f'step {step}/{self.total_steps}  epoch {epoch}  {losses}  {rate:.2f} steps/s  '
                f'ETA {utils.duration(eta)}')


def train(cfg):
    """--mode=train: train cfg.model from its newest checkpoint (or from scratch) to cfg.epochs."""
    run = config.run_name(cfg)
    ckpt_dir, sample_dir = Path(cfg.checkpoint_dir) / run, Path(cfg.sample_dir) / run
    found, images, _ = data.load_or_fail(cfg)
    steps_per_epoch = len(images) // cfg.batch_size
    if steps_per_epoch == 0:
        utils.fail(f'--batch_size={cfg.batch_size} exceeds the {len(images)} training images')
    computes_in = gan_step.set_precision(cfg.precision)
    record = {**config.run_definition(cfg), 'data_source': found.source, 'n_images': len(images),
              'steps_per_epoch': steps_per_epoch, 'xla': cfg.xla, 'computes_in': computes_in,
              'cpu': gan_step.cpu_line(), 'onednn': gan_step.onednn_on(), 'device': utils.device_line()}
    try:
        utils.check_or_record_run(ckpt_dir / 'run.json', record,
                                  [*config.RUN_DEFINING, 'n_images'])
        with utils.GracefulStop() as stop, utils.RunLock(ckpt_dir), \
                utils.log_to(ckpt_dir / 'train.log'):
            _train(cfg, run, ckpt_dir, sample_dir, found, images, steps_per_epoch, computes_in, stop)
    except utils.RunMismatch as error:
        utils.fail(error)
    except OSError as error:  # a full disk or quota: what failed, and that nothing good was lost
        newest = tf.train.latest_checkpoint(str(ckpt_dir))
        kept = (f'the newest checkpoint ({Path(newest).name}) and the logs up to it are intact'
                if newest else 'no checkpoint had been written')
        utils.fail(f'cannot write {error.filename or "a file"}: {error.strerror or error}; {kept}: '
                   f'free space and run the same command to resume', code=1)


def _train(cfg, run, ckpt_dir, sample_dir, found, images, steps_per_epoch, computes_in, stop):
    state = restore_state(cfg, ckpt_dir)
    step = int(state.step)  # the one step counter; state.step follows it at each save
    last_step = total_steps(cfg, steps_per_epoch)
    if state.manager.latest_checkpoint:
        logging.info('Resuming %s from step %d (epoch %d, batch %d of %d).', run, step,
                     step // steps_per_epoch + 1, step % steps_per_epoch, steps_per_epoch)
    if step >= last_step:
        logging.info('%s already trained for %d steps: nothing to do.', run, step)
        return

    train_step = gan_step.make_train_step(state.players, state.noise, cfg)
    schedule = gan_step.CriticSchedule(cfg)
    sample = gan_step.make_sampler(state.players.G, cfg.xla)
    scorer = metrics.Scorer(found, cfg.checkpoint_dir) if cfg.eval_every else None
    if scorer:  # the classifier's test accuracy and the real-data floor, kept with the run
        utils.write_atomically(ckpt_dir / 'classifier.json', lambda tmp: tmp.write_text(
            json.dumps(scorer.info, indent=1) + '\n'))
    logs = open_logs(cfg, ckpt_dir, step)
    # wall_s: seconds of this run's training loops so far, summed over resumed invocations.
    wall_before = float(logs.losses.last_row.get('wall_s') or 0) if logs.losses.last_row else 0.0
    logging.info('Settings: %s', '  '.join(f'{k}={v}' for k, v in registry.shown_settings(cfg).items()))
    logging.info('Training %s on %s, %s (%s, oneDNN %s, XLA %s): %d epochs of %d steps, batch %d, '
                 '%d images; checkpoints in %s, samples in %s', run, utils.device_line(),
                 gan_step.cpu_line(), computes_in, 'on' if gan_step.onednn_on() else 'off',
                 'on' if cfg.xla else 'off', cfg.epochs, steps_per_epoch, cfg.batch_size,
                 len(images), ckpt_dir, sample_dir)

    def save_checkpoint():
        if not all(bool(tf.reduce_all(tf.math.is_finite(v)))
                   for v in state.players.G.all_weights + state.players.D.all_weights):
            utils.fail(f'non-finite weights at step {step}; not saved, the last good checkpoint '
                       f'is {state.manager.latest_checkpoint}', code=1)
        logs.flush()  # the logs on disk cover the newest checkpoint
        state.step.assign(step)
        utils.save_checkpoint(state.manager, step)

    def stop_if_signalled():  # a scheduler's SIGTERM, Slurm's SIGUSR1, Ctrl-C: save and go
        if not stop.received:
            return
        if step > int(state.step):
            save_checkpoint()
        logging.warning('%s at step %d of %d (epoch %d, batch %d of %d), checkpoint saved: the '
                        'same command resumes from there (exit %d).', stop.received, step,
                        last_step, step // steps_per_epoch + 1, step % steps_per_epoch,
                        steps_per_epoch, utils.STOPPED)
        sys.exit(utils.STOPPED)

    batches = iter(data.training_batches(images, cfg.batch_size, cfg.seed,
                                         step, last_step - step))
    start, started, in_steps = step, time.perf_counter(), 0.0
    progress = Progress(step, last_step)
    with logs:  # closed on every way out
        while step < last_step:
            epoch = step // steps_per_epoch + 1
            epoch_end = min(epoch * steps_per_epoch, last_step)
            while step < epoch_end:
                stop_if_signalled()
                step_started = time.perf_counter()
                out = gan_step.take_step(train_step, cfg, schedule, next(batches), step + 1)
                step += 1
                values = {k: float(v) for k, v in out.items() if 'grad' not in k}  # waits for it
                in_steps += time.perf_counter() - step_started
                for name in ('d_loss', 'g_loss'):
                    if not np.isfinite(values[name]):
                        utils.fail(f'{name} is {values[name]} at step {step}; stopped, the last '
                                   f'good checkpoint is {state.manager.latest_checkpoint}', code=1)
                if 'g_grad_norm' in out:
                    logs.gradients.write({'step': step, 'epoch': epoch,
                                          **{k: float(v) for k, v in out.items() if 'grad' in k}})
                logs.losses.write({'step': step, 'epoch': epoch, **values,
                                   'wall_s': round(wall_before + time.perf_counter() - started, 3)})
                if step % cfg.log_every == 0:
                    logging.info(progress.line(step, epoch, values))
                    with logs.board.as_default(step=step):
                        for name, value in values.items():
                            tf.summary.scalar(name, value)
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < epoch_end:
                    save_checkpoint()  # the epoch end saves anyway
            grid_start = time.perf_counter()
            final = step == cfg.epochs * steps_per_epoch
            images, scores = end_epoch(cfg, sample, scorer, logs, step, epoch, sample_dir, final)
            if final:
                finish_run(cfg, sample, scorer, images, scores, ckpt_dir, sample_dir, step)
            checkpoint_start = time.perf_counter()
            save_checkpoint()
            logging.info('Epoch %d done at step %d: grid, metrics %.1f s, checkpoint %.1f s.',
                         epoch, step, checkpoint_start - grid_start,
                         time.perf_counter() - checkpoint_start)
    elapsed = time.perf_counter() - started
    logging.info('Finished %s: %d steps in %s this invocation, %.1f%% of it outside the '
                 'training steps (data, grids, metrics, checkpoints, logs); peak RSS %.2f GB.',
                 run, step - start, utils.duration(elapsed), 100 * (1 - in_steps / elapsed),
                 utils.peak_rss_gb())
