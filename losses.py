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


def gan_discriminator_loss(d_real, d_fake):
    """-E_x[log sigmoid(D(x))] - E_z[log(1 - sigmoid(D(G(z))))]: sigmoid cross-entropy.

    Goodfellow et al., "Generative Adversarial Nets", NIPS 2014, eq. (1), with D as logits.
    """
    return (tf.reduce_mean(tf.nn.softplus(-d_real))   # -log sigmoid(l) = softplus(-l)
            + tf.reduce_mean(tf.nn.softplus(d_fake)))  # -log(1 - sigmoid(l)) = softplus(l)


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
