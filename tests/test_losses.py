"""Each loss against an independent numpy computation, and the LSGAN theory it relies on."""
import numpy as np
import pytest
import tensorflow as tf

import losses

RNG = np.random.default_rng(0)
D_REAL = RNG.normal(0.5, 1.5, (16, 1)).astype(np.float32)
D_FAKE = RNG.normal(-0.7, 2.0, (16, 1)).astype(np.float32)


def sigmoid(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


@pytest.mark.parametrize('a,b', [(-1, 1), (0, 1), (-1, 0.5)])
def test_lsgan_discriminator_loss(a, b):
    expected = 0.5 * np.mean((D_REAL - b) ** 2) + 0.5 * np.mean((D_FAKE - a) ** 2)
    assert float(losses.lsgan_discriminator_loss(D_REAL, D_FAKE, a, b)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize('c', [0, 1])
def test_lsgan_generator_loss(c):
    expected = 0.5 * np.mean((D_FAKE - c) ** 2)
    assert float(losses.lsgan_generator_loss(D_FAKE, c)) == pytest.approx(expected, rel=1e-6)


def test_lsgan_reg_generator_loss_value():
    c, lam = 0.0, 0.7
    expected = 0.5 * np.mean((D_FAKE - c) ** 2) + lam * (D_FAKE.mean() - D_REAL.mean()) ** 2
    got = losses.lsgan_reg_generator_loss(D_REAL, D_FAKE, c, lam)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_the_slides_written_targets_1_m1_0_are_the_default_with_d_negated():
    """The slides write their setting as (1, -1, 0); with c = 0, negating D's output maps it
    onto (a, b, c) = (-1, 1, 0) with every loss unchanged: the same experiment."""
    for lam in (0.0, 0.5):
        assert float(losses.lsgan_reg_generator_loss(-D_REAL, -D_FAKE, 0.0, lam)) == pytest.approx(
            float(losses.lsgan_reg_generator_loss(D_REAL, D_FAKE, 0.0, lam)), rel=1e-6)
    assert float(losses.lsgan_discriminator_loss(-D_REAL, -D_FAKE, a=1.0, b=-1.0)) == pytest.approx(
        float(losses.lsgan_discriminator_loss(D_REAL, D_FAKE, a=-1.0, b=1.0)), rel=1e-6)


def test_regulariser_treats_real_mean_as_constant():
    d_real, d_fake = tf.constant(D_REAL), tf.constant(D_FAKE)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([d_real, d_fake])
        penalty = losses.mean_matching_penalty(d_real, d_fake)
    n = len(D_FAKE)
    # d/d f_i of (mean f - m)^2 = 2 (mean f - m) / n, and nothing flows to the real batch.
    expected = np.full_like(D_FAKE, 2 * (D_FAKE.mean() - D_REAL.mean()) / n)
    np.testing.assert_allclose(tape.gradient(penalty, d_fake), expected, rtol=1e-5)
    assert tape.gradient(penalty, d_real) is None


@pytest.mark.parametrize('a,b,c,lam', [(-1, 1, 0, 0.5), (-1, 1, 0, 5), (-1, 1, 1, 0.5), (0, 1, 1, 2)])
def test_at_the_optimal_discriminator_the_regulariser_only_rescales_the_gradient(a, b, c, lam):
    """Where D gives a on every generated and b on every real sample, both terms' gradients with
    respect to the D(G(z)) are constant vectors: (a - c)/n and 2 lambda (a - b)/n. Their sum is
    LSGAN's gradient times 1 + 2 lambda (b - a)/(c - a), the same direction (what the
    near-optimal gradcheck measures: 1 + 4 lambda at the slides' targets)."""
    d_real, d_fake = tf.fill([16, 1], float(b)), tf.fill([16, 1], float(a))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(d_fake)
        plain = losses.lsgan_generator_loss(d_fake, c)
        regularised = losses.lsgan_reg_generator_loss(d_real, d_fake, c, lam)
    ratio = tape.gradient(regularised, d_fake).numpy() / tape.gradient(plain, d_fake).numpy()
    np.testing.assert_allclose(ratio, 1 + 2 * lam * (b - a) / (c - a), rtol=1e-6)


def test_lambda_zero_is_lsgan():
    assert float(losses.lsgan_reg_generator_loss(D_REAL, D_FAKE, 0.0, 0.0)) == pytest.approx(
        float(losses.lsgan_generator_loss(D_FAKE, 0.0)))


def test_gan_losses_match_log_sigmoid_formulas():
    p_real, p_fake = sigmoid(D_REAL), sigmoid(D_FAKE)
    assert float(losses.gan_discriminator_loss(D_REAL, D_FAKE)) == pytest.approx(
        -np.mean(np.log(p_real)) - np.mean(np.log(1 - p_fake)), rel=1e-5)
    assert float(losses.gan_minimax_generator_loss(D_FAKE)) == pytest.approx(
        np.mean(np.log(1 - p_fake)), rel=1e-5)
    assert float(losses.gan_nonsaturating_generator_loss(D_FAKE)) == pytest.approx(
        -np.mean(np.log(p_fake)), rel=1e-5)


def test_wasserstein_losses():
    assert float(losses.wasserstein_critic_loss(D_REAL, D_FAKE)) == pytest.approx(
        D_FAKE.mean() - D_REAL.mean(), rel=1e-5)
    assert float(losses.wasserstein_generator_loss(D_FAKE)) == pytest.approx(-D_FAKE.mean(), rel=1e-5)


@pytest.mark.parametrize('a,b', [(-1, 1), (0, 1)])
def test_minimising_lsgan_d_loss_gives_the_optimal_discriminator(a, b):
    """Mao et al. 2017, Prop. 1: D*(x) = (b P_r(x) + a P_g(x)) / (P_r(x) + P_g(x)).

    Discrete P_r and P_g on 6 points (two only real, two only fake, two shared) are written
    as batches in which each point appears as often as its probability says; D is a free
    value per point, trained on the project's loss until it stops moving.
    """
    real_counts = np.array([3, 1, 0, 0, 2, 4])
    fake_counts = np.array([0, 0, 2, 5, 1, 2])
    real_points = np.repeat(np.arange(6), real_counts)
    fake_points = np.repeat(np.arange(6), fake_counts)
    values = tf.Variable(tf.zeros(6))
    optimizer = tf.keras.optimizers.SGD(learning_rate=1.0)
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = losses.lsgan_discriminator_loss(tf.gather(values, real_points),
                                                   tf.gather(values, fake_points), a, b)
        optimizer.apply_gradients([(tape.gradient(loss, values), values)])
    p_r, p_g = real_counts / real_counts.sum(), fake_counts / fake_counts.sum()
    np.testing.assert_allclose(values.numpy(), (b * p_r + a * p_g) / (p_r + p_g), atol=1e-4)
