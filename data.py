"""Training images: find MNIST or Fashion-MNIST on disk (or download it), feed it as tf.data.

Sources are tried in a fixed order and the one used is logged with its image count:
  mnist:          --data_dir, the Keras cache, a download, the embedded 10,000-digit subset
  fashion_mnist:  --data_dir, Debian's dataset-fashion-mnist, the Keras cache, a download
A file that exists but cannot be read is an error (`DataError`) naming the file, never a
silent fallback.
"""
import gzip
import os
import socket
import struct
import threading
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

EMBEDDED_MNIST = Path(__file__).resolve().parent / 'data' / 'mnist_10k.npz'
KERAS_DATASETS = Path(os.environ.get('KERAS_HOME', Path.home() / '.keras')) / 'datasets'
DEBIAN_FASHION = Path('/usr/share/datasets/fashion-mnist')
DOWNLOAD_ROOT = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/'
IDX_TRAIN = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte')
DOWNLOAD_TIMEOUT_S = 10


class DataError(Exception):
    """A dataset file is missing, unreadable, truncated or of the wrong shape."""


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
    """Paths of the training IDX pair in `directory` (plain or .gz), or None if absent."""
    found = []
    for stem in IDX_TRAIN:
        candidates = [directory / stem, directory / f'{stem}.gz']
        found.append(next((p for p in candidates if p.exists()), None))
    return found if all(found) else None


def _load_idx_pair(paths):
    images, labels = (read_idx(p) for p in paths)
    return _checked(images, labels, paths[0].parent)


def _load_npz(path, images_key, labels_key):
    try:
        with np.load(path) as archive:
            images, labels = archive[images_key], archive[labels_key]
    except KeyError as error:
        raise DataError(f'{path}: no array {error} in the archive') from None
    except (OSError, ValueError, EOFError, zlib.error) as error:
        raise DataError(f'{path}: cannot read ({error})') from None
    return _checked(images, labels, path)


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
    idx = _find_idx(data_dir)
    if idx:
        return _load_idx_pair(idx), f'IDX files in {data_dir}'
    if dataset == 'mnist' and (data_dir / 'mnist.npz').exists():
        path = data_dir / 'mnist.npz'
        return _load_npz(path, 'x_train', 'y_train'), f'Keras archive {path}'
    raise DataError(f'{data_dir}: no {"/".join(IDX_TRAIN)} IDX files'
                    + (' and no mnist.npz' if dataset == 'mnist' else ''))


def _mnist(download):
    cached = KERAS_DATASETS / 'mnist.npz'
    if cached.exists() or (download and _download(['mnist.npz'], KERAS_DATASETS)):
        return _load_npz(cached, 'x_train', 'y_train'), f'Keras cache {cached}'
    return (_load_npz(EMBEDDED_MNIST, 'x', 'y'),
            f'embedded subset {EMBEDDED_MNIST.name} (no full MNIST found, see README)')


def _fashion_mnist(download):
    cache = KERAS_DATASETS / 'fashion-mnist'
    for directory, source in ((DEBIAN_FASHION, 'Debian package dataset-fashion-mnist'),
                              (cache, 'Keras cache')):
        idx = _find_idx(directory)
        if idx:
            return _load_idx_pair(idx), f'{source} {directory}'
    if download and _download([f'{stem}.gz' for stem in IDX_TRAIN], cache):
        return _load_idx_pair(_find_idx(cache)), f'download into {cache}'
    raise DataError('Fashion-MNIST not found: pass --data_dir, install the Debian package '
                    'dataset-fashion-mnist, or allow --download with internet access')


def load_training_images(dataset, data_dir=None, download=True):
    """(images uint8 (N, 28, 28), labels uint8 (N,), description of the source)."""
    if data_dir:
        (images, labels), source = _from_data_dir(data_dir, dataset)
    elif dataset == 'mnist':
        (images, labels), source = _mnist(download)
    else:
        (images, labels), source = _fashion_mnist(download)
    logging.info('%s: %d training images from %s', dataset, len(images), source)
    return images, labels, source


def to_model_range(images):
    """uint8 images (N, 28, 28) -> float32 tensor (N, 28, 28, 1) in [-1, 1] (G's tanh range)."""
    return tf.constant(images[..., None], tf.float32) / 127.5 - 1.0


def training_batches(images, batch_size, seed, first_step, n_steps):
    """tf.data of the batches of training steps first_step, ..., first_step + n_steps - 1.

    Each epoch is one pass over the in-memory image tensor in a fresh order that is a pure
    function of (seed, epoch), so a run resumed at any step sees exactly the batches it would
    have seen. The last partial batch of an epoch is dropped: every step has the same shape
    and the step function never retraces. Build it once, before the training step is traced:
    creating a tf.data pipeline in a process with many traced functions copies TensorFlow's
    whole function library, which took about 30 s per epoch here.
    """
    per_epoch = len(images) // batch_size
    first_epoch, last_epoch = first_step // per_epoch, (first_step + n_steps - 1) // per_epoch
    indices = np.concatenate([
        np.random.default_rng([seed, epoch]).permutation(len(images))[:per_epoch * batch_size]
        .reshape(per_epoch, batch_size) for epoch in range(first_epoch, last_epoch + 1)])
    start = first_step - first_epoch * per_epoch
    return (tf.data.Dataset.from_tensor_slices(indices[start:start + n_steps])
            .map(lambda batch: tf.gather(images, batch))
            .prefetch(tf.data.AUTOTUNE))
