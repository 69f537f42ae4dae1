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


class MinibatchDiscrimination(tl.layers.Layer):
    """Minibatch discrimination (Salimans et al., "Improved Techniques for Training GANs",
    NIPS 2016, sec. 3.2): lets D see a whole batch, so a collapsed G is easy to spot.

    With the learned kernel T of shape (A, B*C), each sample's features f_i (A,) give
    M_i = f_i T reshaped to (B, C); for every kernel b, o_i,b = sum_{j != i} exp(-||M_i,b -
    M_j,b||_1). The output is [f_i, o_i], of shape (batch, A + B).
    """

    def __init__(self, num_kernels=100, kernel_dim=5, name=None):
        super().__init__(name)
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim

    def __repr__(self):
        return f'{type(self).__name__}(num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim})'

    def build(self, inputs_shape):
        self.T = self._get_weights('T', shape=(inputs_shape[1], self.num_kernels * self.kernel_dim),
                                   init=_weights())

    def forward(self, inputs):
        m = tf.reshape(tf.matmul(inputs, self.T), [-1, self.num_kernels, self.kernel_dim])
        l1 = tf.reduce_sum(tf.abs(m[:, None] - m[None, :]), axis=-1)  # (batch, batch, B)
        closeness = tf.reduce_sum(tf.exp(-l1), axis=1) - 1.0  # minus exp(0): self excluded
        return tf.concat([inputs, closeness], axis=1)


def discriminator(df_dim=64, norm='batch', minibatch_disc=False, name=None):
    """images (batch, 28, 28, 1) -> (score (batch, 1), features (batch, 1024)).

    The score is unbounded (a logit, a critic value or an LSGAN regression output); the
    features are the last hidden layer, for feature matching. `norm='none'` drops both batch
    norms (a WGAN-GP critic must not couple the samples of a batch, since its penalty is per
    sample). `minibatch_disc` inserts `MinibatchDiscrimination` before the output layer.
    """
    def normalise_then(act):
        return _batch_norm(act) if norm == 'batch' else tl.layers.Lambda(act)

    bias = tl.initializers.zeros() if norm == 'none' else None  # BN's beta already is a bias
    x = tl.layers.Input([None, *IMAGE_SHAPE])
    h = tl.layers.Conv2d(df_dim, (5, 5), (2, 2), act=lrelu, W_init=_weights())(x)
    h = tl.layers.Conv2d(2 * df_dim, (5, 5), (2, 2), W_init=_weights(), b_init=bias)(h)
    h = normalise_then(lrelu)(h)
    h = tl.layers.Flatten()(h)
    h = tl.layers.Dense(FC_UNITS, W_init=_weights(), b_init=bias)(h)
    features = normalise_then(lrelu)(h)
    h = MinibatchDiscrimination()(features) if minibatch_disc else features
    score = tl.layers.Dense(1, W_init=_weights())(h)
    return tl.models.Model(inputs=x, outputs=[score, features], name=name)


def kernels_and_biases(net):
    """The trainable weights of `net` outside its batch-norm layers (scales and offsets)."""
    norm_weights = {id(w) for layer in net.all_layers if isinstance(layer, tl.layers.BatchNorm)
                    for w in layer.all_weights}
    return [w for w in net.trainable_weights if id(w) not in norm_weights]


def _mlp(inputs, in_dim, hidden, act=tf.nn.relu):
    """Two Dense+ReLU layers with He initialisation (TL's default stddev 0.05 would start the
    toy's G as a point at the origin)."""
    h = inputs
    for fan_in in (in_dim, hidden):
        h = tl.layers.Dense(hidden, act=act,
                            W_init=tl.initializers.truncated_normal(stddev=(2 / fan_in) ** 0.5))(h)
    return h


def _linear(units, fan_in):
    return tl.layers.Dense(units, W_init=tl.initializers.truncated_normal(stddev=fan_in ** -0.5))


def mlp_generator(z_dim, hidden=128, out_dim=2, name=None):
    """The 2-D toy's G: z -> Dense hidden, ReLU -> Dense hidden, ReLU -> Dense out_dim (linear)."""
    z = tl.layers.Input([None, z_dim])
    x = _linear(out_dim, hidden)(_mlp(z, z_dim, hidden))
    return tl.models.Model(inputs=z, outputs=x, name=name)


def mlp_discriminator(in_dim=2, hidden=128, name=None):
    """The 2-D toy's D, with the outputs of `discriminator`: (score, last hidden features)."""
    x = tl.layers.Input([None, in_dim])
    features = _mlp(x, in_dim, hidden)
    return tl.models.Model(inputs=x, outputs=[_linear(1, hidden)(features), features], name=name)
