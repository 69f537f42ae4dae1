"""Use a trained run: --mode=eval scores its newest checkpoint, --mode=generate writes samples."""
import json
from pathlib import Path

import tensorflow as tf
from absl import logging

import config
import data
import metrics
import train
import training
import utils


def _restored_sampler(cfg):
    run = config.run_name(cfg)
    ckpt_dir = Path(cfg.checkpoint_dir) / run
    if not tf.train.latest_checkpoint(str(ckpt_dir)):
        utils.fail(f'no checkpoint of run {run} in {ckpt_dir}')
    state = train.restore_state(cfg, ckpt_dir)
    return run, ckpt_dir, int(state.step), training.make_sampler(state.players.G, cfg.xla)


def evaluate(cfg):
    """The metrics of the run's newest checkpoint (cfg.eval_n samples of the fixed evaluation
    z), printed and recorded in its metrics.csv."""
    found, images, _ = data.load_or_fail(cfg)
    run, ckpt_dir, step, sample = _restored_sampler(cfg)
    scores = metrics.Scorer(found, cfg.checkpoint_dir).score(
        train.generate(sample, train.eval_z(cfg, cfg.eval_n)))
    epoch = -(-step // (len(images) // cfg.batch_size))  # the epoch the step ends or is in
    record = utils.CsvLog(ckpt_dir / 'metrics.csv', ['step', 'epoch', *metrics.NAMES],
                          resume_step=step - 1)  # replaces a row of this step, if any
    record.write({'step': step, 'epoch': epoch, **scores})
    record.close()
    print(json.dumps({'run': run, 'step': step, 'epoch': epoch, **scores}, indent=1))


def generate(cfg):
    """cfg.n samples of the run's newest checkpoint, as uint8 (n, 28, 28) under key x of cfg.out."""
    run, _, step, sample = _restored_sampler(cfg)
    train.save_samples(train.generate(sample, train.eval_z(cfg, cfg.n)), cfg.out)
    logging.info('%d samples of %s at step %d written to %s', cfg.n, run, step, cfg.out)
