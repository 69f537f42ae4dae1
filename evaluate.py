"""Use trained runs: --mode=eval scores a run's newest checkpoint, --mode=generate writes its
samples, --mode=rescore scores every run's final samples under several classifiers."""
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

import config
import data
import gan_step
import metrics
import train
import utils


def _restored_sampler(cfg):
    run = config.run_name(cfg)
    ckpt_dir = Path(cfg.checkpoint_dir) / run
    if not tf.train.latest_checkpoint(str(ckpt_dir)):
        utils.fail(f'no checkpoint of run {run} in {ckpt_dir}')
    state = train.restore_state(cfg, ckpt_dir)
    return run, ckpt_dir, int(state.step), gan_step.make_sampler(state.players.G, cfg.xla)


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


FINAL_SCORES = 'final_scores.csv'
EARLY_SCORES = 'early_scores.csv'  # the samples runs kept at early epochs, classifier 0
REAL_DIGITS = 'real_digits'  # the row of training digits scored like the runs' samples
RESCORED = ('fid', 'classifier_score', 'precision', 'recall', 'coverage')


def rescore(cfg):
    """The final_1000.npz of every run under cfg.sample_dir scored by the classifier of each of
    cfg.classifier_seeds (0: the shipped one; others trained here and cached under
    cfg.checkpoint_dir), one row per run and classifier in <sample_dir>/final_scores.csv. The same
    samples under equally good classifiers: how much a FID owes to the classifier. A row of
    1,000 training digits (REAL_DIGITS) gives each classifier's floor at that n. The samples
    runs kept at early epochs (samples_1000_epoch_NNN.npz) are scored by the first classifier
    into <sample_dir>/early_scores.csv."""
    finals = sorted(Path(cfg.sample_dir).glob(f'*/final_{train.FINAL_N}.npz'))
    if not finals:
        utils.fail(f'no run under {cfg.sample_dir} has final_{train.FINAL_N}.npz')
    found, _, _ = data.load_or_fail(cfg)
    sets = {path.parent.name: _samples(path) for path in finals}
    # The floor at the same n: FID grows as n shrinks, so the 5,000-digit floor does not apply.
    sets[REAL_DIGITS] = metrics.floor_digits(found, train.FINAL_N)
    early = {(path.parent.name, int(path.stem.rsplit('_', 1)[1])): path for path in
             sorted(Path(cfg.sample_dir).glob(f'*/samples_{train.FINAL_N}_epoch_*.npz'))}
    rows, early_rows = [], []
    for seed in cfg.classifier_seeds:
        scorer = metrics.Scorer(found, cfg.checkpoint_dir, seed=seed)
        for name, images in sets.items():
            rows.append(_score_row(scorer, seed, images, run=name))
        if seed == cfg.classifier_seeds[0]:
            early_rows = [_score_row(scorer, seed, _samples(path), run=run, epoch=epoch)
                          for (run, epoch), path in early.items()]
    out = Path(cfg.sample_dir) / FINAL_SCORES
    utils.write_csv(out, list(rows[0]), rows)
    if early_rows:
        utils.write_csv(Path(cfg.sample_dir) / EARLY_SCORES, list(early_rows[0]), early_rows)
    logging.info('%d runs and %d real digits under %d classifiers scored into %s; %d early sample '
                 'files under classifier %d', len(finals), train.FINAL_N,
                 len(cfg.classifier_seeds), out, len(early_rows), cfg.classifier_seeds[0])


def _samples(path):
    with np.load(path) as archive:
        return archive['x']


def _score_row(scorer, seed, images, **keys):
    scores = scorer.score(metrics.to_float(images))
    return {**keys, 'classifier': seed, 'classifier_test_accuracy': scorer.info['test_accuracy'],
            'n': len(images), **{k: scores[k] for k in RESCORED}}
