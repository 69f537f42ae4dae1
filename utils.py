"""Sample grids, the run's record (flags, loss CSV) and checkpoint plumbing."""
import csv
import json
import math
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tensorflow as tf
from absl import logging


class RunMismatch(Exception):
    """An existing run directory was made with different run-defining flags or data."""


def to_uint8(images):
    """Images in [-1, 1] (any shape) -> uint8 in [0, 255], rounded."""
    return np.round((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def image_grid(images):
    """(n, h, w[, 1]) images in [-1, 1], n a perfect square -> one (k*h, k*w) uint8 image,
    filled row by row."""
    images = to_uint8(np.asarray(images).reshape(len(images), *np.shape(images)[1:3]))
    n, h, w = images.shape
    k = math.isqrt(n)
    if k * k != n:
        raise ValueError(f'{n} images do not fill a square grid')
    return images.reshape(k, k, h, w).transpose(0, 2, 1, 3).reshape(k * h, k * w)


def write_atomically(path, write):
    """Call write(tmp_path), then rename onto `path`: a crash never leaves a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp')
    write(tmp)
    os.replace(tmp, path)


def write_csv(path, fields, rows):
    """Write `rows` (dicts) under a header of `fields`, atomically."""
    def write(tmp):
        with tmp.open('w', newline='') as file:
            writer = csv.DictWriter(file, fields)
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write)


def save_grid(images, path):
    """Write images in [-1, 1] as one square greyscale PNG grid."""
    grid = image_grid(images)
    write_atomically(path, lambda tmp: iio.imwrite(tmp, grid, extension='.png'))


def check_or_record_run(path, record, defining_keys):
    """Compare `record` with the run record at `path`, or write it if there is none.

    Raises RunMismatch naming the first differing value among `defining_keys`.
    """
    path = Path(path)
    if path.exists():
        saved = json.loads(path.read_text())
        for key in defining_keys:
            if saved.get(key) != record.get(key):
                raise RunMismatch(
                    f'{path.parent} holds a run with {key}={saved.get(key)!r}, this command has '
                    f'{key}={record.get(key)!r}; pass another --run_name or remove that directory')
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + '\n'))


class CsvLog:
    """Rows appended to a CSV; on resume, rows past the restored step are dropped first so a
    crashed run's unsaved steps are not logged twice."""

    def __init__(self, path, fields, resume_step):
        self.path, self.fields = Path(path), list(fields)
        kept = []
        if self.path.exists() and resume_step > 0:
            with self.path.open(newline='') as f:
                kept = [row for row in csv.DictReader(f) if int(row['step']) <= resume_step]
        # Rewritten atomically before appending: a kill right after a resume, before any
        # flush, must not leave the log truncated (it once emptied a finished run's logs).
        write_csv(self.path, self.fields, kept)
        self._file = self.path.open('a', newline='')
        self._writer = csv.DictWriter(self._file, self.fields)
        self.last_row = kept[-1] if kept else None

    def write(self, row):
        self._writer.writerow(row)
        self.last_row = row

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


def checkpoint_manager(directory, keep, **state):
    """A tf.train.CheckpointManager over `state` (variables, lists of them, optimizers...).

    TensorLayer models are not trackable (TENSORLAYER_NOTES.md, section 7): pass
    `model.all_weights`, which includes the BatchNorm moving statistics.
    """
    return tf.train.CheckpointManager(tf.train.Checkpoint(**state), directory, max_to_keep=keep)


def restore_newest_readable(manager):
    """Restore the newest checkpoint that reads back whole; returns its path, or None.

    A checkpoint cut short by a crash or damaged on disk fails TensorFlow's size and checksum
    checks; it is skipped with a warning (and left on disk) and the one before it is used.
    """
    for path in reversed(manager.checkpoints):
        try:
            manager.checkpoint.restore(path).assert_existing_objects_matched()
            return path
        except Exception as error:  # noqa: BLE001  TF's reader raises OpError, IndexError, ...
            logging.warning('Checkpoint %s is unreadable (%s): falling back to the one before.',
                            path, str(error).splitlines()[0])
    if manager.checkpoints:
        raise RuntimeError(f'no readable checkpoint in {manager.directory}')
    return None
