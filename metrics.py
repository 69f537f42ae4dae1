"""Sample quality as numbers, from a digit classifier trained on the GANs' own training data.

- FID (Heusel et al. 2017) computed on the classifier's penultimate features (128-d) instead of
  Inception's: ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)).
- Classifier score, the Inception Score of Salimans et al. 2016 with this classifier:
  exp(E_x[KL(p(y|x) || p(y))]); at most the number of classes (10).
- The histogram of predicted classes, its KL divergence to the uniform distribution, and the
  number of classes covered (classes that receive at least 1% of the samples).

The classifier is cached under checkpoints/ by a hash of its training data and retrained only
when that data changes.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorlayer as tl
from absl import logging

import utils

N_CLASSES = 10
FEATURES = 128
COVERED_SHARE = 0.01  # a class is covered when it gets at least 1% of the samples
MIN_HELD_OUT_ACCURACY = 0.98
HEADLINE = ('fid', 'classifier_score', 'kl_uniform', 'classes_covered')
NAMES = (*HEADLINE, *(f'class_{k}' for k in range(N_CLASSES)))  # the keys of Scorer.score


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


def data_key(images, labels):
    """A short hash naming the data a classifier was trained on."""
    return hashlib.sha1(images.tobytes() + labels.tobytes()).hexdigest()[:12]


def split_held_out(n, seed=0, share=0.1):
    """(train indices, held-out indices): a fixed random tenth of the data is held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_held = int(n * share)
    return order[n_held:], order[:n_held]


def predict(net, images, batch_size=500):
    """(softmax probabilities, features) of float images in [-1, 1], in eval mode."""
    net.eval()
    probs, feats = [], []
    for start in range(0, len(images), batch_size):
        logits, features = net(tf.convert_to_tensor(images[start:start + batch_size]))
        probs.append(tf.nn.softmax(logits).numpy())
        feats.append(features.numpy())
    return np.concatenate(probs), np.concatenate(feats).astype(np.float64)


def train_network(images, labels, epochs=15, batch_size=128, seed=0):
    """Train the classifier on uint8 images; returns (network, held-out accuracy)."""
    x = (images[..., None].astype(np.float32) / 127.5 - 1.0)
    train, held = split_held_out(len(images), seed)
    tf.random.set_seed(seed)
    net = classifier_network()
    optimizer = tf.keras.optimizers.Adam(1e-3)

    @tf.function
    def step(batch, batch_labels):
        net.train()
        with tf.GradientTape() as tape:
            logits, _ = net(batch)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(batch_labels, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_weights), net.trainable_weights))
        return loss

    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(train)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            step(tf.constant(x[idx]), tf.constant(labels[idx].astype(np.int32)))
    probs, _ = predict(net, x[held])
    accuracy = float(np.mean(probs.argmax(1) == labels[held]))
    logging.info('Digit classifier: held-out accuracy %.4f on %d images', accuracy, len(held))
    if accuracy < MIN_HELD_OUT_ACCURACY:
        logging.warning('Digit classifier below %.0f%% held-out accuracy: metrics are less '
                        'trustworthy', 100 * MIN_HELD_OUT_ACCURACY)
    return net, accuracy


class Scorer:
    """The cached classifier and the feature statistics of the real training images."""

    def __init__(self, images, labels, cache_root, dataset):
        key = data_key(images, labels)
        self.directory = Path(cache_root) / f'classifier_{dataset}_{key}'
        self.net = classifier_network()
        checkpoint = tf.train.Checkpoint(weights=self.net.all_weights)
        info_path = self.directory / 'info.json'
        if info_path.exists():
            checkpoint.read(str(self.directory / 'weights')).assert_consumed()
            self.info = json.loads(info_path.read_text())
            stats = np.load(self.directory / 'real_stats.npz')
            self.mu_real, self.sigma_real = stats['mu'], stats['sigma']
            logging.info('Digit classifier loaded from %s', self.directory)
            return
        trained, accuracy = train_network(images, labels)
        for target, source in zip(self.net.all_weights, trained.all_weights):
            target.assign(source)
        _, features = predict(self.net, images[..., None].astype(np.float32) / 127.5 - 1.0)
        self.mu_real, self.sigma_real = features.mean(0), np.cov(features, rowvar=False)
        self.info = {'held_out_accuracy': accuracy, 'data_key': key, 'n_images': len(images)}
        self.directory.mkdir(parents=True, exist_ok=True)
        checkpoint.write(str(self.directory / 'weights'))
        np.savez(self.directory / 'real_stats.npz', mu=self.mu_real, sigma=self.sigma_real)
        # info.json last: its presence says the cache is complete.
        utils.write_atomically(info_path, lambda tmp: tmp.write_text(json.dumps(self.info) + '\n'))

    def score(self, samples):
        """All metrics of float samples (N, 28, 28, 1) in [-1, 1]."""
        probs, features = predict(self.net, samples)
        hist = class_histogram(probs)
        return {'fid': frechet_distance(features.mean(0), np.cov(features, rowvar=False),
                                        self.mu_real, self.sigma_real),
                'classifier_score': classifier_score(probs),
                'kl_uniform': kl_to_uniform(hist),
                'classes_covered': classes_covered(hist),
                **{f'class_{k}': float(share) for k, share in enumerate(hist)}}


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
