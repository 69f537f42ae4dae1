"""DCGAN generator and discriminator for 28x28 images, built with TensorLayer 2.

The architecture is the one the slides use for every model (Radford et al. 2016, adapted to
MNIST as in the TensorLayer DCGAN examples):

    G: z -> Dense 1024, BN, ReLU -> Dense 7*7*(2*gf_dim), BN, ReLU
         -> DeConv gf_dim 5x5 s2, BN, ReLU -> DeConv 1 5x5 s2, tanh
    D: x -> Conv df_dim 5x5 s2, LReLU(0.2) -> Conv 2*df_dim 5x5 s2, BN, LReLU
         -> Flatten -> Dense 1024, BN, LReLU -> Dense 1 (linear)
"""
import tensorflow as tf
import tensorlayer as tl

IMAGE_SHAPE = (28, 28, 1)

tl.logging.set_verbosity(tl.logging.WARN)  # TL logs every layer it builds at INFO
FC_UNITS = 1024


class BatchNorm(tl.layers.BatchNorm):
    """TensorLayer's BatchNorm with its moving statistics updated in place.

    TL 2.2.5 rebinds `self.moving_mean` to the value returned by `assign_moving_average`, so
    once the model is built any tf.function reading it fails with "Can not convert a
    NoneType into a Tensor" (see TENSORLAYER_NOTES.md, section 4). Assigning in place keeps
    the tracked variables and gives the same exponential moving average. Eval mode is TL's.
    """

    def forward(self, inputs):
        if not self.is_train:
            return super().forward(inputs)
        channel_axis = len(inputs.shape) - 1
        axes = [i for i in range(len(inputs.shape)) if i != channel_axis]
        mean, var = tf.nn.moments(inputs, axes)
        self.moving_mean.assign(self.decay * self.moving_mean + (1.0 - self.decay) * mean)
        self.moving_var.assign(self.decay * self.moving_var + (1.0 - self.decay) * var)
        outputs = tf.nn.batch_normalization(inputs, mean, var, self.beta, self.gamma, self.epsilon)
        return self.act(outputs) if self.act else outputs


def _batch_norm(act):
    # Unit initial moving variance: eval before any training must not divide by sqrt(eps).
    return BatchNorm(decay=0.9, act=act, gamma_init=tl.initializers.random_normal(1.0, 0.02),
                     moving_var_init=tl.initializers.ones())


def _weights():
    return tl.initializers.random_normal(stddev=0.02)  # DCGAN initialisation


def lrelu(x):
    return tf.nn.leaky_relu(x, alpha=0.2)


def generator(z_dim=100, gf_dim=64, name=None):
    """z (batch, z_dim) -> images (batch, 28, 28, 1) in [-1, 1]."""
    z = tl.layers.Input([None, z_dim])
    h = tl.layers.Dense(FC_UNITS, W_init=_weights(), b_init=None)(z)
    h = _batch_norm(tf.nn.relu)(h)
    h = tl.layers.Dense(7 * 7 * 2 * gf_dim, W_init=_weights(), b_init=None)(h)
    h = _batch_norm(tf.nn.relu)(h)
    h = tl.layers.Reshape([-1, 7, 7, 2 * gf_dim])(h)
    h = tl.layers.DeConv2d(gf_dim, (5, 5), (2, 2), W_init=_weights(), b_init=None)(h)
    h = _batch_norm(tf.nn.relu)(h)
    x = tl.layers.DeConv2d(1, (5, 5), (2, 2), act=tf.nn.tanh, W_init=_weights())(h)
    return tl.models.Model(inputs=z, outputs=x, name=name)


def discriminator(df_dim=64, batch_norm=True, name=None):
    """images (batch, 28, 28, 1) -> one unbounded score per image, shape (batch, 1).

    `batch_norm=False` drops both BN layers (a WGAN-GP critic must not normalise over the
    batch, since its gradient penalty is defined per sample).
    """
    def normalise_then(act):
        return _batch_norm(act) if batch_norm else tl.layers.Lambda(act)

    bias = None if batch_norm else tl.initializers.zeros()  # BN's beta already is a bias
    x = tl.layers.Input([None, *IMAGE_SHAPE])
    h = tl.layers.Conv2d(df_dim, (5, 5), (2, 2), act=lrelu, W_init=_weights())(x)
    h = tl.layers.Conv2d(2 * df_dim, (5, 5), (2, 2), W_init=_weights(), b_init=bias)(h)
    h = normalise_then(lrelu)(h)
    h = tl.layers.Flatten()(h)
    h = tl.layers.Dense(FC_UNITS, W_init=_weights(), b_init=bias)(h)
    h = normalise_then(lrelu)(h)
    score = tl.layers.Dense(1, W_init=_weights())(h)
    return tl.models.Model(inputs=x, outputs=score, name=name)
