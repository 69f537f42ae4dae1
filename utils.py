"""Sample grids, the run's record (flags, loss CSV) and checkpoint plumbing."""
import contextlib
import csv
import errno
import json
import logging as std_logging
import math
import os
import resource
import shutil
import signal
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tensorflow as tf
from absl import logging


STOPPED = 75  # exit code of a run stopped by a signal after saving (sysexits' EX_TEMPFAIL: retry)


def fail(message, code=2):
    """The project's one way out: one line on stderr and exit `code`, 2 for bad input (flags,
    data files, a run directory made by other settings), 1 for a failure while running (a
    non-finite loss, a full disk)."""
    sys.stderr.write(f'{os.path.basename(sys.argv[0])}: error: {message}\n')
    sys.exit(code)


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
    try:
        with naming(path):
            write(tmp)
            os.replace(tmp, path)
    except BaseException:  # a full disk, a signal: no half-written temporary file stays behind
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def naming(path):
    """An OSError of the block names `path`: a failed write() to an open file names none."""
    try:
        yield
    except OSError as error:
        if error.filename:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from None


def write_csv(path, fields, rows):
    """Write `rows` (dicts) under a header of `fields`, atomically."""
    def write(tmp):
        with tmp.open('w', newline='') as file:
            writer = csv.DictWriter(file, fields)
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write)


def read_csv(path):
    """A CSV's rows as dicts of strings; [] when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline='') as file:
        return list(csv.DictReader(file))


def mean_std(values):
    """'mean +- std' over seeds (sample std), the value alone for one, '-' for none."""
    values = np.array(values, dtype=float)
    if len(values) == 0:
        return '-'
    return f'{values.mean():.3g} +- {values.std(ddof=1):.2g}' if len(values) > 1 else f'{values[0]:.3g}'


def save_figure(fig, path):
    """Write a matplotlib figure and close it. Figures are made with layout='constrained',
    which keeps titles clear of the axes above them."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)


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
        # A row cut short by a crash or a full disk lacks fields (None) and is dropped too.
        kept = [row for row in read_csv(self.path)
                if None not in row.values() and int(row['step']) <= resume_step]
        # Rewritten atomically before appending: a kill right after a resume, before any
        # flush, must not leave the log truncated (it once emptied a finished run's logs).
        write_csv(self.path, self.fields, kept)
        self._file = self.path.open('a', newline='')
        self._writer = csv.DictWriter(self._file, self.fields)
        self.last_row = kept[-1] if kept else None

    def write(self, row):
        with naming(self.path):
            self._writer.writerow(row)
        self.last_row = row

    def flush(self):
        with naming(self.path):
            self._file.flush()

    def close(self):
        with naming(self.path):
            self._file.close()


def save_checkpoint(manager, step):
    """manager.save(step). A failed write (a full disk) leaves no trace of the attempt (TensorFlow
    leaves a ckpt-N_temp directory and may leave ckpt-N files) and raises OSError naming the
    checkpoint; the checkpoints before it are untouched."""
    try:
        with native_stderr_silenced():  # TF's C++ layer would print its own lines of the failure
            return manager.save(checkpoint_number=step)
    except tf.errors.OpError as error:
        directory = Path(manager.directory)
        for leftover in [*directory.glob(f'ckpt-{step}.*'), *directory.glob(f'ckpt-{step}_temp*'),
                         *directory.glob('checkpoint.tmp*')]:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        no_space = isinstance(error, tf.errors.ResourceExhaustedError)
        raise OSError(errno.ENOSPC if no_space else errno.EIO,
                      os.strerror(errno.ENOSPC) if no_space else error.message.splitlines()[0],
                      str(directory / f'ckpt-{step}')) from None


@contextlib.contextmanager
def native_stderr_silenced():
    """File descriptor 2 points at /dev/null while the block runs: what C++ code writes there
    is dropped (Python's sys.stderr is not redirected, but its writes also go to descriptor 2)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def checkpoint_manager(directory, keep, **state):
    """A tf.train.CheckpointManager over `state` (variables, lists of them, optimizers...).

    TensorLayer models are not trackable (docs/tensorlayer.md): pass
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


def peak_rss_gb():
    """This process's peak resident memory so far, in GB (10^9 bytes; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def duration(seconds):
    """'1 h 02 min', '3 min 05 s' or '12 s'."""
    if not math.isfinite(seconds):
        return '?'
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f'{seconds // 3600} h {seconds % 3600 // 60:02d} min'
    if seconds >= 60:
        return f'{seconds // 60} min {seconds % 60:02d} s'
    return f'{seconds} s'


def device_line():
    """What trains, in words: 'GPU (1 visible)' or 'CPU (2 cores, 2 threads)'."""
    gpus = tf.config.list_physical_devices('GPU')
    if gpus:
        return f'GPU ({len(gpus)} visible)'
    cores = len(os.sched_getaffinity(0))  # what this process may use (taskset, Slurm)
    threads = tf.config.threading.get_intra_op_parallelism_threads() or cores
    return f'CPU ({cores} cores, {threads} threads)'


@contextlib.contextmanager
def log_to(path):
    """absl's log lines also appended to `path` while the block runs: a run's own log, kept
    with it over its resumes and copied to git with its small results."""
    handler = _QuietFileHandler(path, mode='a')
    handler.setFormatter(logging.PythonFormatter())
    logger = logging.get_absl_logger()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(OSError):  # lines a full disk kept in the buffer are dropped
            handler.close()


class _QuietFileHandler(std_logging.FileHandler):
    """A log file whose failed writes (a full disk) are dropped without logging's traceback:
    the failing write of a result or checkpoint reports the cause in one line."""

    def handleError(self, record):
        pass


class RunLock:
    """Exclusive use of a run directory by one process: `lock` holds the owner's PID. A second
    process exits 2 naming the owner; a lock left by a dead process is taken over with a
    warning."""

    def __init__(self, directory):
        self.path = Path(directory) / 'lock'

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if not self._owner():  # being written?
                    time.sleep(0.5)
                if owner := self.holder():
                    fail(f'{self.path.parent} is being trained by process {owner} (remove '
                         f'{self.path} if that is wrong)')
                logging.warning('Taking over %s, left by process %s, which is gone.', self.path, self._owner())
                self.path.unlink(missing_ok=True)
                continue
            try:
                with naming(self.path), os.fdopen(fd, 'w') as file:
                    file.write(f'{os.getpid()}\n')
            except OSError:  # a full disk: no empty lock stays behind
                self.path.unlink(missing_ok=True)
                raise
            return self

    def holder(self):
        """The PID of the live process that holds the lock (trains the run now), else 0."""
        owner = self._owner()
        return owner if owner and _alive(owner) else 0

    def _owner(self):
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def __exit__(self, *exc):
        if self._owner() == os.getpid():
            self.path.unlink(missing_ok=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class GracefulStop:
    """While the block runs, SIGTERM (a scheduler's time limit, preemption), SIGUSR1 (Slurm's
    warning ahead of the limit) and SIGINT (Ctrl-C) only ask the training loop to stop:
    `received` names the first signal. The loop finishes the step in flight, saves a
    checkpoint and exits STOPPED. Later signals are ignored, so none can cut the save in half
    or turn the exit code into a kill's."""
    SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)

    def __enter__(self):
        self.received = None
        self._previous = {sig: signal.signal(sig, self._note) for sig in self.SIGNALS}
        return self

    def _note(self, signum, frame):
        self.received = self.received or signal.Signals(signum).name
        for sig in self.SIGNALS:  # ignored by the OS from now on, also while Python shuts down
            signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *exc):
        if self.received:  # on the way out after a stop: no later signal changes the exit code
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
