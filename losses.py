"""GAN losses as pure functions of discriminator outputs.

Conventions, shared by every function here:
- `d_real` = D(x) on a batch of real images, `d_fake` = D(G(z)) on a batch of generated ones,
  both of shape (batch, 1). They are raw scores: logits for the cross-entropy GANs, the
  regression output for LSGAN, the critic value for WGAN.
- An expectation E[.] is the mean over the batch. Where a formula carries a factor 1/2 (the
  LSGAN family), the factor is applied: the slides' and Mao et al.'s convention.
- Every loss is minimised by the player it belongs to.
"""
import tensorflow as tf


def lsgan_discriminator_loss(d_real, d_fake, a, b):
    """1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2].

    Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017, eq. (2).
    `b` is the target for real data, `a` the target for generated data.
    """
    return 0.5 * tf.reduce_mean(tf.square(d_real - b)) + 0.5 * tf.reduce_mean(tf.square(d_fake - a))


def lsgan_generator_loss(d_fake, c):
    """1/2 E_z[(D(G(z)) - c)^2]: Mao et al. 2017, eq. (2); `c` is what G wants D to believe."""
    return 0.5 * tf.reduce_mean(tf.square(d_fake - c))


def mean_matching_penalty(d_real, d_fake):
    """(E_z[D(G(z))] - E_x[D(x)])^2, with E_x[D(x)] a constant for the generator.

    The regulariser the slides (Li & Chu, PKU course project 2020, "Our Method III") add to
    the LSGAN generator loss. The real-data mean comes from the same step's real batch; the
    stop-gradient keeps it out of any derivative.
    """
    return tf.square(tf.reduce_mean(d_fake) - tf.stop_gradient(tf.reduce_mean(d_real)))


def lsgan_reg_generator_loss(d_real, d_fake, c, lam):
    """1/2 E_z[(D(G(z)) - c)^2] + lambda (E_z[D(G(z))] - E_x[D(x)])^2  (the slides' V_LSGAN').

    The course project's own code wrote the first term without the 1/2 and the second with
    weight 1; lambda = 0.5 here gives that same balance between the two terms.
    """
    return lsgan_generator_loss(d_fake, c) + lam * mean_matching_penalty(d_real, d_fake)


def gan_discriminator_loss(d_real, d_fake, real_target=1.0):
    """-E_x[t log s(D(x)) + (1-t) log(1 - s(D(x)))] - E_z[log(1 - s(D(G(z))))], s = sigmoid.

    Sigmoid cross-entropy: Goodfellow et al., "Generative Adversarial Nets", NIPS 2014, eq. (1),
    with D as logits, for t = 1. A real target t < 1 is one-sided label smoothing (Salimans et
    al., "Improved Techniques for Training GANs", NIPS 2016, sec. 3.4).
    """
    # -log s(l) = softplus(-l) and -log(1 - s(l)) = softplus(l): stable for any logit.
    real_term = real_target * tf.nn.softplus(-d_real) + (1.0 - real_target) * tf.nn.softplus(d_real)
    return tf.reduce_mean(real_term) + tf.reduce_mean(tf.nn.softplus(d_fake))


def gan_minimax_generator_loss(d_fake):
    """E_z[log(1 - sigmoid(D(G(z))))]: the saturating minimax loss of Goodfellow et al. 2014."""
    return -tf.reduce_mean(tf.nn.softplus(d_fake))


def gan_nonsaturating_generator_loss(d_fake):
    """-E_z[log sigmoid(D(G(z)))]: the non-saturating loss (Goodfellow et al. 2014, sec. 3)."""
    return tf.reduce_mean(tf.nn.softplus(-d_fake))


def wasserstein_critic_loss(d_real, d_fake):
    """E_z[D(G(z))] - E_x[D(x)]: Arjovsky et al., "Wasserstein GAN", ICML 2017, eq. (3)."""
    return tf.reduce_mean(d_fake) - tf.reduce_mean(d_real)


def wasserstein_generator_loss(d_fake):
    """-E_z[D(G(z))]: Arjovsky et al. 2017."""
    return -tf.reduce_mean(d_fake)


def gradient_penalty(critic, real, fake, epsilon):
    """E[(||grad D(x_hat)||_2 - 1)^2] with x_hat = epsilon x + (1 - epsilon) G(z).

    Gulrajani et al., "Improved Training of Wasserstein GANs", NIPS 2017, Alg. 1. `critic`
    maps images to scores; `epsilon` broadcasts against the images: shape (batch, 1, 1, 1)
    for one coefficient per sample (the paper), (1, 1, 1, 1) for one per batch.
    """
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic(x_hat)
    grads = tape.gradient(scores, x_hat)
    # The tiny constant keeps the square root differentiable at a zero gradient.
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=list(range(1, grads.shape.rank))) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def feature_matching_loss(features_real, features_fake):
    """||E_x f(x) - E_z f(G(z))||_2^2, f = an intermediate layer of D.

    Salimans et al. 2016, sec. 3.1: the generator's loss instead of fooling D. The real
    features are a target, held constant for the generator.
    """
    target = tf.stop_gradient(tf.reduce_mean(features_real, axis=0))
    return tf.reduce_sum(tf.square(target - tf.reduce_mean(features_fake, axis=0)))


def ralsgan_discriminator_loss(d_real, d_fake):
    """E_x[(D(x) - E_z D(G(z)) - 1)^2] + E_z[(D(G(z)) - E_x D(x) + 1)^2].

    The relativistic average LSGAN (Jolicoeur-Martineau, "The relativistic discriminator: a
    key element missing from standard GAN", ICLR 2019, RaLSGAN): D judges whether a real image
    is more realistic than the average fake one, and a fake less than the average real one.
    """
    return (tf.reduce_mean(tf.square(d_real - tf.reduce_mean(d_fake) - 1.0))
            + tf.reduce_mean(tf.square(d_fake - tf.reduce_mean(d_real) + 1.0)))


def ralsgan_generator_loss(d_real, d_fake):
    """E_z[(D(G(z)) - E_x D(x) - 1)^2] + E_x[(D(x) - E_z D(G(z)) + 1)^2]  (Jolicoeur-Martineau
    2019, RaLSGAN). Unlike the slides' regularizer, the real term depends on G through
    E_z D(G(z)): both terms pull the fake batch mean against the real one."""
    return ralsgan_discriminator_loss(d_fake, d_real)
