"""Sample quality as numbers, from a digit classifier trained on the training digits, every
generated set measured against the held-out test digits.

- FID (Heusel et al. 2017) on the classifier's penultimate features (128-d) instead of
  Inception's: ||mu_t - mu_g||^2 + Tr(S_t + S_g - 2 (S_t S_g)^(1/2)).
- Classifier score, the Inception Score of Salimans et al. 2016 with this classifier:
  exp(E_x[KL(p(y|x) || p(y))]); at most the number of classes (10).
- Quality and coverage apart, on the same features: improved precision and recall
  (Kynkaanniemi et al., NeurIPS 2019, k = 3) and density and coverage (Naeem et al., ICML
  2020, k = 5).
- The histogram of predicted classes, its KL divergence to the uniform distribution, and the
  number of classes covered (classes that receive at least 1% of the samples).
- The real-data floor: the same metrics for FLOOR_N training digits, which a generator
  cannot be expected to beat.

The classifier's weights ship with the project (data/classifier.npz, trained by train_network
with seed 0 on the 60,000 training digits): retraining gives a different network on another
CPU (other kernels, other rounding), and a different network moves every FID. So do the
classifiers of seeds 1 and 2 (data/classifier_seed<k>.npz) that --mode=rescore compares it
with. Data the shipped weights were not trained on (a --dataset other than MNIST, a test
subset) gets a classifier trained here. The classifier, its test accuracy, the test features
and the floor are cached under checkpoints/ and recomputed only when the data or the classifier
changes.
"""
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorlayer as tl
from absl import logging

import data
import utils

N_CLASSES = 10
FEATURES = 128
COVERED_SHARE = 0.01  # a class is covered when it gets at least 1% of the samples
MIN_TEST_ACCURACY = 0.99
SHIPPED_DIR = Path(__file__).parent / 'data'
FLOOR_N = 5000  # training digits scored as if generated: the real-data floor
PR_K, DC_K = 3, 5  # neighbours of precision/recall and of density/coverage
HEADLINE = ('fid', 'classifier_score', 'precision', 'recall', 'density', 'coverage',
            'classes_covered')
NAMES = (*HEADLINE, 'kl_uniform', *(f'class_{k}' for k in range(N_CLASSES)))  # Scorer.score's keys


def classifier_network():
    """images (batch, 28, 28, 1) in [-1, 1] -> (logits (batch, 10), features (batch, 128))."""
    x = tl.layers.Input([None, 28, 28, 1])
    h = tl.layers.Conv2d(32, (3, 3), (1, 1), act=tf.nn.relu)(x)
    h = tl.layers.MaxPool2d((2, 2), (2, 2))(h)
    h = tl.layers.Conv2d(64, (3, 3), (1, 1), act=tf.nn.relu)(h)
    h = tl.layers.MaxPool2d((2, 2), (2, 2))(h)
    h = tl.layers.Flatten()(h)
    features = tl.layers.Dense(FEATURES, act=tf.nn.relu)(h)
    logits = tl.layers.Dense(N_CLASSES)(tl.layers.Dropout(keep=0.5)(features))
    return tl.models.Model(inputs=x, outputs=[logits, features])


def data_key(found):
    """A short hash naming the data a classifier was trained and tested on."""
    return hashlib.sha1(b''.join(a.tobytes() for a in found[:4])).hexdigest()[:12]


def to_float(images):
    """uint8 images (N, 28, 28) -> numpy float32 (N, 28, 28, 1) in [-1, 1], the generators' range."""
    return data.to_model_range(images).numpy()


def predict(net, images, batch_size=500):
    """(softmax probabilities, features) of float images in [-1, 1], in eval mode."""
    net.eval()
    probs, feats = [], []
    for start in range(0, len(images), batch_size):
        logits, features = net(tf.convert_to_tensor(images[start:start + batch_size]))
        probs.append(tf.nn.softmax(logits).numpy())
        feats.append(features.numpy())
    return np.concatenate(probs), np.concatenate(feats)


def shipped_path(seed=0):
    """The file of the shipped classifier trained with `seed` (0: the one behind every metric)."""
    return SHIPPED_DIR / ('classifier.npz' if seed == 0 else f'classifier_seed{seed}.npz')


def shipped_weights(key, seed=0):
    """(the weights of the classifier shipped for `seed`, as numpy arrays in `all_weights` order,
    a short hash of its file) if one was trained on the data `key` names, else None."""
    path = shipped_path(seed)
    if not path.exists():
        return None
    raw = path.read_bytes()
    with np.load(io.BytesIO(raw)) as archive:
        if str(archive['data_key']) != key:
            return None
        weights = [archive[f'w{i}'] for i in range(len(archive.files) - 1)]
    return weights, hashlib.sha1(raw).hexdigest()[:8]


def export_weights(net, key, path):
    """Write `net`'s weights (and the data key they were trained on) in shipped_weights' layout."""
    def write(tmp):
        with open(tmp, 'wb') as file:  # a file object: np.savez would append .npz to a path
            np.savez(file, data_key=key, **{f'w{i}': w.numpy() for i, w in enumerate(net.all_weights)})

    utils.write_atomically(path, write)


def train_network(found, epochs=8, batch_size=128, seed=0):
    """The classifier trained on the training digits: Adam at 1e-3, then 1e-4 for the last
    quarter of the steps."""
    tf.random.set_seed(seed)
    net = classifier_network()
    steps = epochs * (len(found.x_train) // batch_size)
    optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.PiecewiseConstantDecay(
        [int(0.75 * steps)], [1e-3, 1e-4]))

    @tf.function
    def step(batch, batch_labels):
        net.train()
        with tf.GradientTape() as tape:
            logits, _ = net(batch)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(batch_labels, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_weights), net.trainable_weights))
        return loss

    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(found.x_train))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            # Scaled batch by batch: a float copy of every digit would stay in oneDNN's memory
            # pool (which never returns memory to the system) for the rest of the run.
            step(data.to_model_range(found.x_train[idx]), tf.constant(found.y_train[idx].astype(np.int32)))
    return net


def floor_digits(found, n=FLOOR_N):
    """The training digits scored as if generated, for the real-data floor: n of them, in one
    fixed random order."""
    return found.x_train[np.random.default_rng(0).permutation(len(found.x_train))[:n]]


class Scorer:
    """The cached classifier, the test digits' features and the real-data floor."""

    def __init__(self, found, cache_root, seed=0):
        """`found`: data.Data with the whole training split (the classifier and the floor must
        not depend on a run's --train_size). `seed` 0 is the classifier behind every metric; the
        others measure how much FID depends on which equally good classifier defines it. Each
        is the shipped one where it fits the data, else trained here."""
        key = data_key(found)
        shipped = shipped_weights(key, seed)
        name = f'shipped_{shipped[1]}' if shipped else f'seed{seed}'
        self.directory = Path(cache_root) / f'classifier_{key}_{name}'
        self.net = classifier_network()
        checkpoint = tf.train.Checkpoint(weights=self.net.all_weights)
        info_path = self.directory / 'info.json'
        if info_path.exists():
            checkpoint.read(str(self.directory / 'weights')).assert_consumed()
            self.info = json.loads(info_path.read_text())
            self._set_test_features(np.load(self.directory / 'test_features.npy'))
            logging.info('Digit classifier loaded from %s', self.directory)
            return
        weights = (shipped[0] if shipped else
                   [w.numpy() for w in train_network(found, seed=seed).all_weights])
        for target, source in zip(self.net.all_weights, weights):
            target.assign(source)
        test_probs, test_features = predict(self.net, to_float(found.x_test))
        accuracy = float(np.mean(test_probs.argmax(1) == found.y_test))
        logging.info('Digit classifier: test accuracy %.4f on %d images', accuracy, len(found.x_test))
        if accuracy < MIN_TEST_ACCURACY:
            logging.warning('Digit classifier below %.0f%% test accuracy: metrics are less '
                            'trustworthy', 100 * MIN_TEST_ACCURACY)
        self._set_test_features(test_features)
        floor = floor_digits(found)
        self.info = {'classifier': name, 'test_accuracy': accuracy, 'data_key': key,
                     'n_train': len(found.x_train), 'n_test': len(found.x_test),
                     'real_floor_n': len(floor), 'real_floor': self.score(to_float(floor))}
        self.directory.mkdir(parents=True, exist_ok=True)
        checkpoint.write(str(self.directory / 'weights'))
        np.save(self.directory / 'test_features.npy', self.test_features)
        # info.json last: its presence says the cache is complete.
        utils.write_atomically(info_path, lambda tmp: tmp.write_text(json.dumps(self.info) + '\n'))

    def _set_test_features(self, features):
        self.test_features = features.astype(np.float32)
        as64 = features.astype(np.float64)
        self.mu_test, self.sigma_test = as64.mean(0), np.cov(as64, rowvar=False)
        self.test_radii = {k: kth_neighbour_distance(self.test_features, k) for k in (PR_K, DC_K)}

    def score(self, samples):
        """All metrics (NAMES) of float samples (N, 28, 28, 1) in [-1, 1], against the test digits."""
        probs, features = predict(self.net, samples)
        as64 = features.astype(np.float64)
        hist = class_histogram(probs)
        return {'fid': frechet_distance(as64.mean(0), np.cov(as64, rowvar=False),
                                        self.mu_test, self.sigma_test),
                'classifier_score': classifier_score(probs),
                **manifold_metrics(self.test_features, features, real_radii=self.test_radii),
                'classes_covered': classes_covered(hist),
                'kl_uniform': kl_to_uniform(hist),
                **{f'class_{k}': float(share) for k, share in enumerate(hist)}}


def _distance_chunks(a, b, rows=512):
    """(start, distances of a[start:start+rows] to all of b), in float64 chunks: the full
    matrix of two 10,000-point sets is never held at once."""
    b = b.astype(np.float64)
    b2 = np.sum(b ** 2, axis=1)
    for start in range(0, len(a), rows):
        chunk = a[start:start + rows].astype(np.float64)
        squared = np.sum(chunk ** 2, axis=1)[:, None] + b2[None, :] - 2 * chunk @ b.T
        yield start, np.sqrt(np.maximum(squared, 0))


def kth_neighbour_distance(points, k):
    """Each point's distance to its k-th nearest other point of the same set."""
    radii = np.empty(len(points))
    for start, distances in _distance_chunks(points, points):
        # The point itself is at distance 0, the first of its k + 1 nearest.
        radii[start:start + len(distances)] = np.partition(distances, k, axis=1)[:, k]
    return radii


def _inside(distances, radii):
    """distance <= radius, for a point on the boundary too: the distance from x to y and from
    y to x come from different matrix products and may differ in the last bits, so when a set
    meets itself (or duplicates), the k-th neighbour that defines a ball must still count as
    inside it (a relative slack far above float64 rounding, far below any real distance gap)."""
    return distances <= radii * (1 + 1e-9)


def manifold_metrics(real, fake, pr_k=PR_K, dc_k=DC_K, real_radii=None):
    """Quality and coverage apart, from one pass over the fake-to-real distances:

    - improved precision and recall (Kynkaanniemi et al. 2019, k = pr_k): the share of
      generated points inside the real manifold (the union of the real points' k-NN balls),
      and the share of real points inside the generated manifold;
    - density and coverage (Naeem et al. 2020, k = dc_k): the mean number of real k-NN balls
      holding a generated point, divided by k (1 when the two sets are alike, above 1 where
      the generated points crowd into dense real regions), and the share of real points
      whose k-NN ball holds at least one generated point.

    `real_radii`: {k: kth_neighbour_distance(real, k)}, computed here when not given."""
    real_radii = real_radii or {k: kth_neighbour_distance(real, k) for k in (pr_k, dc_k)}
    fake_radii = kth_neighbour_distance(fake, pr_k)
    in_real_manifold = np.zeros(len(fake), bool)
    real_balls_holding = np.zeros(len(fake), np.int64)
    in_fake_manifold = np.zeros(len(real), bool)
    nearest_fake = np.full(len(real), np.inf)
    for start, distances in _distance_chunks(fake, real):  # rows: fake points, columns: real
        rows = slice(start, start + len(distances))
        in_real_manifold[rows] = np.any(_inside(distances, real_radii[pr_k][None, :]), axis=1)
        real_balls_holding[rows] = np.sum(_inside(distances, real_radii[dc_k][None, :]), axis=1)
        in_fake_manifold |= np.any(_inside(distances, fake_radii[rows, None]), axis=0)
        nearest_fake = np.minimum(nearest_fake, distances.min(axis=0))
    return {'precision': float(in_real_manifold.mean()),
            'recall': float(in_fake_manifold.mean()),
            'density': float(real_balls_holding.sum() / (dc_k * len(fake))),
            'coverage': float(np.mean(_inside(nearest_fake, real_radii[dc_k])))}


def psd_sqrt(matrix):
    """The symmetric square root of a symmetric positive semi-definite matrix (eigh)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Frechet distance of two Gaussians.

    Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the second form is a symmetric PSD
    matrix, so eigen-decompositions give it stably (no complex parts, unlike sqrtm(S1 S2)).
    """
    root1 = psd_sqrt(sigma1)
    cross = np.trace(psd_sqrt(root1 @ sigma2 @ root1))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * cross)


def classifier_score(probs, eps=1e-12):
    """exp(E_x[KL(p(y|x) || p(y))]) with p(y) the mean prediction (Salimans et al. 2016)."""
    marginal = probs.mean(0)
    kl = np.sum(probs * (np.log(probs + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def class_histogram(probs):
    """Share of the samples predicted as each class."""
    return np.bincount(probs.argmax(1), minlength=N_CLASSES) / len(probs)


def kl_to_uniform(hist, eps=1e-12):
    """KL(hist || uniform) in nats: 0 for a perfectly balanced set, log 10 for one class."""
    return float(np.sum(hist * (np.log(hist + eps) + np.log(len(hist)))))


def classes_covered(hist):
    return int(np.sum(hist >= COVERED_SHARE))
