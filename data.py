"""Training and test images: find MNIST or Fashion-MNIST on disk (or download it), select
--train_size of them, feed them as tf.data.

Sources are tried in a fixed order and the one used is logged and recorded in run.json:
  mnist:          --data_dir, the Keras cache, a download, the embedded data/mnist.npz
  fashion_mnist:  --data_dir, Debian's dataset-fashion-mnist, the Keras cache, a download
data/mnist.npz is the complete MNIST (60,000 + 10,000 digits; provenance in data/README.md), so
offline runs train on the same data as online ones. A file that exists but cannot be read is
an error (`DataError`) naming the file, never a silent fallback.
"""
import gzip
import os
import socket
import struct
import threading
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from absl import logging

import utils

EMBEDDED_MNIST = Path(__file__).resolve().parent / 'data' / 'mnist.npz'
KERAS_DATASETS = Path(os.environ.get('KERAS_HOME', Path.home() / '.keras')) / 'datasets'
DEBIAN_FASHION = Path('/usr/share/datasets/fashion-mnist')
DOWNLOAD_ROOT = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/'
IDX_SPLITS = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
              'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
DOWNLOAD_TIMEOUT_S = 10


class DataError(Exception):
    """A dataset file is missing, unreadable, truncated or of the wrong shape."""


class Data(NamedTuple):
    """uint8 images (N, 28, 28) and uint8 labels (N,) of both splits, and where they came from."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def read_idx(path):
    """One IDX file (optionally gzipped) as a uint8 array of the shape its header gives."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == '.gz' else open)(path, 'rb') as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f'{path}: cannot read ({error})') from None
    if len(raw) < 4 or raw[:2] != b'\0\0' or raw[2] != 0x08:
        raise DataError(f'{path}: not an unsigned-byte IDX file (bad magic number)')
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f'{path}: truncated IDX header')
    shape = struct.unpack(f'>{ndim}I', raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        raise DataError(f'{path}: {len(raw) - header} data bytes, header promises shape {shape}')
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _checked(images, labels, where):
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f'{where}: images have shape {images.shape}, expected (N, 28, 28)')
    if labels.shape != (len(images),):
        raise DataError(f'{where}: {len(images)} images but labels of shape {labels.shape}')
    if images.dtype != np.uint8:
        raise DataError(f'{where}: images are {images.dtype}, expected uint8')
    return images, labels


def _find_idx(directory):
    """{split: (images path, labels path)} of the IDX files in `directory` (plain or .gz), or
    None unless both splits are there."""
    found = {}
    for split, stems in IDX_SPLITS.items():
        paths = [next((p for p in (directory / s, directory / f'{s}.gz') if p.exists()), None)
                 for s in stems]
        if not all(paths):
            return None
        found[split] = paths
    return found


def _load_idx(found, source):
    arrays = [_checked(*(read_idx(p) for p in found[split]), found[split][0])
              for split in IDX_SPLITS]
    return Data(*arrays[0], *arrays[1], source)


def _load_npz(path, source):
    """A Keras-layout mnist.npz (x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in ('x_train', 'y_train', 'x_test', 'y_test')}
    except KeyError as error:
        raise DataError(f'{path}: no array {error} in the archive') from None
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise DataError(f'{path}: damaged or truncated npz archive ({error}); delete it and '
                        'try again') from None
    except ValueError:  # numpy's reading of a file that is no npz as a pickle, refused
        raise DataError(f'{path}: not a numpy .npz archive') from None
    except OSError as error:
        raise DataError(f'{path}: cannot read ({error})') from None
    train = _checked(arrays['x_train'], arrays['y_train'], path)
    test = _checked(arrays['x_test'], arrays['y_test'], path)
    return Data(*train, *test, source)


def _online(host, timeout_s):
    """Whether `host` resolves within `timeout_s` (a DNS lookup can hang past any socket
    timeout, so it runs in a thread we stop waiting for)."""
    resolved = []

    def resolve():
        try:
            resolved.append(socket.getaddrinfo(host, 443))
        except OSError:
            pass

    lookup = threading.Thread(target=resolve, daemon=True)
    lookup.start()
    lookup.join(timeout_s)
    return bool(resolved)


def _download(filenames, target_dir):
    """Download files from the Keras dataset mirror into target_dir; False when offline."""
    host = urllib.parse.urlparse(DOWNLOAD_ROOT).hostname
    if not _online(host, timeout_s=3):
        logging.info('No network (%s does not resolve): not downloading.', host)
        return False
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in filenames:
        partial = target_dir / f'{name}.part'
        try:
            with urllib.request.urlopen(DOWNLOAD_ROOT + name, timeout=DOWNLOAD_TIMEOUT_S) as r:
                partial.write_bytes(r.read())
        except OSError as error:
            logging.warning('Download of %s failed: %s', DOWNLOAD_ROOT + name, error)
            partial.unlink(missing_ok=True)
            return False
        partial.rename(target_dir / name)  # never leave a half-written file under the real name
    return True


def _from_data_dir(data_dir, dataset):
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f'{data_dir}: --data_dir is not a directory')
    found = _find_idx(data_dir)
    if found:
        return _load_idx(found, f'IDX files in {data_dir}')
    if dataset == 'mnist' and (data_dir / 'mnist.npz').exists():
        return _load_npz(data_dir / 'mnist.npz', f'Keras archive {data_dir / "mnist.npz"}')
    names = '/'.join(stem for stems in IDX_SPLITS.values() for stem in stems)
    raise DataError(f'{data_dir}: no {names} IDX files'
                    + (' and no mnist.npz' if dataset == 'mnist' else ''))


def _mnist(download):
    cached = KERAS_DATASETS / 'mnist.npz'
    if cached.exists() or (download and _download(['mnist.npz'], KERAS_DATASETS)):
        return _load_npz(cached, f'Keras cache {cached}')
    return _load_npz(EMBEDDED_MNIST, f'embedded {EMBEDDED_MNIST.name}')


def _fashion_mnist(download):
    cache = KERAS_DATASETS / 'fashion-mnist'
    for directory, source in ((DEBIAN_FASHION, 'Debian package dataset-fashion-mnist'),
                              (cache, 'Keras cache')):
        found = _find_idx(directory)
        if found:
            return _load_idx(found, f'{source} {directory}')
    stems = [f'{stem}.gz' for stems in IDX_SPLITS.values() for stem in stems]
    if download and _download(stems, cache):
        return _load_idx(_find_idx(cache), f'download into {cache}')
    raise DataError('Fashion-MNIST not found: pass --data_dir, install the Debian package '
                    'dataset-fashion-mnist, or allow --download with internet access')


def balanced_order(labels):
    """A fixed order of all indices in which every prefix is as class-balanced as the data
    allows: the k-th image of each class (in file order) comes before the (k+1)-th of any."""
    rank = np.empty(len(labels), np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[members] = np.arange(len(members))
    return np.lexsort((labels, rank))  # by rank, then by class


def load(dataset, data_dir=None, download=True):
    """The dataset's Data, both splits whole."""
    if data_dir:
        found = _from_data_dir(data_dir, dataset)
    elif dataset == 'mnist':
        found = _mnist(download)
    else:
        found = _fashion_mnist(download)
    logging.info('%s: %d training and %d test images from %s', dataset, len(found.x_train),
                 len(found.x_test), found.source)
    return found


def training_subset(found, train_size):
    """(images, labels): the first `train_size` training images of `balanced_order`, in file
    order; all of them for 0."""
    if train_size > len(found.x_train):
        raise DataError(f'--train_size={train_size} exceeds the {len(found.x_train)} training '
                        f'images of {found.source}')
    if not train_size:
        return found.x_train, found.y_train
    keep = np.sort(balanced_order(found.y_train)[:train_size])
    return found.x_train[keep], found.y_train[keep]


def _scaled(pixels):
    return tf.cast(pixels, tf.float32) / 127.5 - 1.0


def to_model_range(images):
    """uint8 images (N, 28, 28) -> float32 tensor (N, 28, 28, 1) in [-1, 1] (G's tanh range)."""
    return _scaled(tf.constant(images[..., None]))


def training_batches(images, batch_size, seed, first_step, n_steps):
    """tf.data of the batches of training steps first_step, ..., first_step + n_steps - 1, as
    to_model_range gives them, from uint8 `images` (N, 28, 28).

    Batches are scaled as they are drawn: a float copy of all 60,000 digits (188 MB, and
    twice that while it is made) would be the largest array of a run. Each epoch is one pass
    over the in-memory images in a fresh order that is a pure function of (seed, epoch), so a
    run resumed at any step sees exactly the batches it would have seen. The last partial batch
    of an epoch is dropped: every step has the same shape and the step function never retraces.
    Build it once, before the training step is traced:
    creating a tf.data pipeline in a process with many traced functions copies TensorFlow's
    whole function library, which took about 30 s per epoch here.
    """
    per_epoch = len(images) // batch_size
    first_epoch, last_epoch = first_step // per_epoch, (first_step + n_steps - 1) // per_epoch
    indices = np.concatenate([
        np.random.default_rng([seed, epoch]).permutation(len(images))[:per_epoch * batch_size]
        .reshape(per_epoch, batch_size) for epoch in range(first_epoch, last_epoch + 1)])
    start = first_step - first_epoch * per_epoch
    pixels = tf.constant(images[..., None])
    return (tf.data.Dataset.from_tensor_slices(indices[start:start + n_steps])
            .map(lambda batch: _scaled(tf.gather(pixels, batch)))
            .prefetch(tf.data.AUTOTUNE))


def load_or_fail(cfg):
    """(the configured dataset's Data with both splits whole, the training images and labels of
    cfg.train_size), or exit 2 with one line naming what is wrong."""
    try:
        found = load(cfg.dataset, cfg.data_dir, cfg.download)
        return (found, *training_subset(found, cfg.train_size))
    except DataError as error:
        utils.fail(error)
