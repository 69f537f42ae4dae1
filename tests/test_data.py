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


def write_idx_dir(directory, compress=False, train=None):
    """Both splits as IDX files; returns the training pair."""
    images, labels = train or fake_mnist()
    suffix = '.gz' if compress else ''
    for (image_stem, label_stem), (x, y) in zip(data.IDX_SPLITS.values(),
                                                ((images, labels), fake_mnist(4))):
        write_idx(directory / f'{image_stem}{suffix}', x, compress)
        write_idx(directory / f'{label_stem}{suffix}', y, compress)
    return images, labels


def save_keras_npz(path, images, labels):
    np.savez(path, x_train=images, y_train=labels, x_test=images[:2], y_test=labels[:2])


@pytest.mark.parametrize('compress', [False, True])
def test_idx_files_in_data_dir(tmp_path, compress):
    images, labels = write_idx_dir(tmp_path, compress)
    found = data.load('mnist', str(tmp_path), download=False)
    np.testing.assert_array_equal(found.x_train, images)
    np.testing.assert_array_equal(found.y_train, labels)
    assert found.x_test.shape == (4, 28, 28) and str(tmp_path) in found.source


def test_keras_npz_in_data_dir(tmp_path):
    images, labels = fake_mnist()
    save_keras_npz(tmp_path / 'mnist.npz', images, labels)
    found = data.load('mnist', str(tmp_path), download=False)
    np.testing.assert_array_equal(found.x_train, images)
    assert 'mnist.npz' in found.source


def test_the_embedded_data_is_the_whole_mnist(tmp_path, monkeypatch):
    """Shapes and class counts of the canonical MNIST (data/README.md)."""
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path)
    found = data.load('mnist', download=False)
    assert found.x_train.shape == (60000, 28, 28) and found.x_test.shape == (10000, 28, 28)
    assert found.x_train.dtype == np.uint8 and 'embedded' in found.source
    assert np.bincount(found.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                   6265, 5851, 5949]
    assert np.bincount(found.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                  974, 1009]
    import hashlib
    assert hashlib.sha256(data.EMBEDDED_MNIST.read_bytes()).hexdigest() == (
        '06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64')


def test_keras_cache_is_preferred_to_the_embedded_copy(tmp_path, monkeypatch):
    images, labels = fake_mnist()
    save_keras_npz(tmp_path / 'mnist.npz', images, labels)
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path)
    found = data.load('mnist', download=False)
    assert len(found.x_train) == len(images) and 'Keras cache' in found.source


@pytest.mark.parametrize('damage, message', [
    ('truncate', 'damaged or truncated npz archive'),
    ('text', 'not a numpy .npz archive'),
])
def test_a_damaged_keras_cache_is_one_line_naming_the_file(tmp_path, monkeypatch, damage, message):
    """What an interrupted download leaves in the Keras cache, or a text file of that name."""
    path = tmp_path / 'mnist.npz'
    if damage == 'truncate':
        path.write_bytes(data.EMBEDDED_MNIST.read_bytes()[:100000])
    else:
        path.write_text('<html>not found</html>\n')
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path)
    with pytest.raises(data.DataError, match=f'{path}: {message}'):
        data.load('mnist', download=False)


def test_train_size_takes_a_class_balanced_prefix_independent_of_the_seed():
    labels = np.repeat(np.arange(10), [50, 80, 40, 60, 70, 55, 45, 65, 75, 60])[::-1].copy()
    found = data.Data(np.arange(len(labels)), labels, None, None, 'test')  # "image" i is i
    images, subset = data.training_subset(found, 100)
    assert np.bincount(subset, minlength=10).tolist() == [10] * 10
    np.testing.assert_array_equal(data.training_subset(found, 100)[1], subset)  # fixed
    order = data.balanced_order(labels)
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation of all
    assert (np.diff(images) > 0).all()  # kept in file order
    np.testing.assert_array_equal(labels[images], subset)
    assert data.training_subset(found, 0)[1] is labels
    with pytest.raises(data.DataError, match='--train_size=1000 exceeds the 600'):
        data.training_subset(found, 1000)


def test_truncated_idx_names_the_file(tmp_path):
    write_idx_dir(tmp_path)
    path = tmp_path / 'train-images-idx3-ubyte'
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.DataError, match='train-images-idx3-ubyte'):
        data.load('mnist', str(tmp_path), download=False)


def test_corrupt_gzip_names_the_file(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / 'train-images-idx3-ubyte').unlink()
    (tmp_path / 'train-images-idx3-ubyte.gz').write_bytes(b'not a gzip stream at all')
    with pytest.raises(data.DataError, match='train-images-idx3-ubyte.gz'):
        data.load('mnist', str(tmp_path), download=False)


def test_wrong_image_shape_and_count_mismatch(tmp_path):
    images, labels = fake_mnist()
    save_keras_npz(tmp_path / 'mnist.npz', images[:, :20], labels)
    with pytest.raises(data.DataError, match=r'mnist.npz.*\(N, 28, 28\)'):
        data.load('mnist', str(tmp_path), download=False)
    save_keras_npz(tmp_path / 'mnist.npz', images, labels[:-1])
    with pytest.raises(data.DataError, match='12 images but labels'):
        data.load('mnist', str(tmp_path), download=False)


def test_empty_data_dir_is_an_error(tmp_path):
    with pytest.raises(data.DataError, match='no train-images'):
        data.load('mnist', str(tmp_path), download=False)


@pytest.mark.skipif(not data.DEBIAN_FASHION.exists(), reason='dataset-fashion-mnist not installed')
def test_fashion_mnist_from_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path)
    found = data.load('fashion_mnist', download=False)
    assert found.x_train.shape == (60000, 28, 28) and 'Debian' in found.source


def test_download_offline_fails_fast(monkeypatch, tmp_path):
    """An unresolvable host must be given up within seconds, leaving no file behind."""
    import time
    monkeypatch.setattr(data, 'DOWNLOAD_ROOT', 'https://no-such-host.invalid/')
    start = time.monotonic()
    assert data._download(['mnist.npz'], tmp_path) is False
    assert time.monotonic() - start < 10
    assert list(tmp_path.iterdir()) == []


def test_training_batches_reshuffle_every_epoch_and_resume_anywhere():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1)  # image i holds pixel value i
    scaled = data.to_model_range(images).numpy()

    def steps(first, n):
        batches = [b.numpy() for b in data.training_batches(images, 3, seed=7, first_step=first,
                                                             n_steps=n)]
        indices = [np.rint((b + 1) * 127.5).astype(int).ravel().tolist() for b in batches]
        for b, i in zip(batches, indices):  # scaled exactly as to_model_range scales them
            assert b.shape == (3, 1, 1, 1) and np.array_equal(b, scaled[i])
        return indices

    run = steps(0, 9)  # three epochs of three batches: the partial batch is dropped
    assert len(run) == 9 and all(len(b) == 3 for b in run)
    epochs = [sum(run[i:i + 3], []) for i in (0, 3, 6)]
    assert all(len(set(e)) == 9 for e in epochs)  # no image twice in an epoch
    assert epochs[0] != epochs[1] != epochs[2]  # a new order every epoch
    assert steps(0, 9) == run  # a pure function of the seed
    for first in (1, 3, 5):
        assert steps(first, 9 - first) == run[first:]  # resuming at any step
