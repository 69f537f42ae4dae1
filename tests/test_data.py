"""Dataset discovery, IDX parsing, bad files and the per-epoch batch order."""
import gzip
import struct

import numpy as np
import pytest

import data


def write_idx(path, array, compress=False):
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim) + struct.pack(f'>{array.ndim}I', *array.shape)
    with (gzip.open if compress else open)(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_mnist(n=12):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


@pytest.mark.parametrize('compress', [False, True])
def test_idx_files_in_data_dir(tmp_path, compress):
    images, labels = fake_mnist()
    suffix = '.gz' if compress else ''
    write_idx(tmp_path / f'train-images-idx3-ubyte{suffix}', images, compress)
    write_idx(tmp_path / f'train-labels-idx1-ubyte{suffix}', labels, compress)
    got_images, got_labels, source = data.load_training_images('mnist', str(tmp_path), download=False)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert str(tmp_path) in source


def test_keras_npz_in_data_dir(tmp_path):
    images, labels = fake_mnist()
    np.savez(tmp_path / 'mnist.npz', x_train=images, y_train=labels, x_test=images[:2], y_test=labels[:2])
    got_images, _, source = data.load_training_images('mnist', str(tmp_path), download=False)
    np.testing.assert_array_equal(got_images, images)
    assert 'mnist.npz' in source


def test_embedded_subset_is_the_offline_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path)
    images, labels, source = data.load_training_images('mnist', download=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert 'embedded' in source


def test_keras_cache_is_preferred_to_the_embedded_subset(tmp_path, monkeypatch):
    images, labels = fake_mnist()
    np.savez(tmp_path / 'mnist.npz', x_train=images, y_train=labels)
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path)
    got_images, _, source = data.load_training_images('mnist', download=False)
    assert len(got_images) == len(images) and 'Keras cache' in source


def test_truncated_idx_names_the_file(tmp_path):
    images, labels = fake_mnist()
    write_idx(tmp_path / 'train-images-idx3-ubyte', images)
    write_idx(tmp_path / 'train-labels-idx1-ubyte', labels)
    path = tmp_path / 'train-images-idx3-ubyte'
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.DataError, match='train-images-idx3-ubyte'):
        data.load_training_images('mnist', str(tmp_path), download=False)


def test_corrupt_gzip_names_the_file(tmp_path):
    (tmp_path / 'train-images-idx3-ubyte.gz').write_bytes(b'not a gzip stream at all')
    write_idx(tmp_path / 'train-labels-idx1-ubyte', fake_mnist()[1])
    with pytest.raises(data.DataError, match='train-images-idx3-ubyte.gz'):
        data.load_training_images('mnist', str(tmp_path), download=False)


def test_wrong_image_shape_and_count_mismatch(tmp_path):
    images, labels = fake_mnist()
    np.savez(tmp_path / 'mnist.npz', x_train=images[:, :20], y_train=labels)
    with pytest.raises(data.DataError, match=r'mnist.npz.*\(N, 28, 28\)'):
        data.load_training_images('mnist', str(tmp_path), download=False)
    np.savez(tmp_path / 'mnist.npz', x_train=images, y_train=labels[:-1])
    with pytest.raises(data.DataError, match='12 images but labels'):
        data.load_training_images('mnist', str(tmp_path), download=False)


def test_empty_data_dir_is_an_error(tmp_path):
    with pytest.raises(data.DataError, match='no train-images'):
        data.load_training_images('mnist', str(tmp_path), download=False)


@pytest.mark.skipif(not data.DEBIAN_FASHION.exists(), reason='dataset-fashion-mnist not installed')
def test_fashion_mnist_from_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path)
    images, labels, source = data.load_training_images('fashion_mnist', download=False)
    assert images.shape == (60000, 28, 28) and 'Debian' in source


def test_download_offline_fails_fast(monkeypatch, tmp_path):
    """An unresolvable host must be given up within seconds, leaving no file behind."""
    import time
    monkeypatch.setattr(data, 'DOWNLOAD_ROOT', 'https://no-such-host.invalid/')
    start = time.monotonic()
    assert data._download(['mnist.npz'], tmp_path) is False
    assert time.monotonic() - start < 10
    assert list(tmp_path.iterdir()) == []


def test_training_batches_reshuffle_every_epoch_and_resume_anywhere():
    import tensorflow as tf
    images = tf.reshape(tf.range(10, dtype=tf.float32), [10, 1, 1, 1])  # image i holds value i

    def steps(first, n):
        return [b.numpy().ravel().astype(int).tolist()
                for b in data.training_batches(images, 3, seed=7, first_step=first, n_steps=n)]

    run = steps(0, 9)  # three epochs of three batches: the partial batch is dropped
    assert len(run) == 9 and all(len(b) == 3 for b in run)
    epochs = [sum(run[i:i + 3], []) for i in (0, 3, 6)]
    assert all(len(set(e)) == 9 for e in epochs)  # no image twice in an epoch
    assert epochs[0] != epochs[1] != epochs[2]  # a new order every epoch
    assert steps(0, 9) == run  # a pure function of the seed
    for first in (1, 3, 5):
        assert steps(first, 9 - first) == run[first:]  # resuming at any step
