"""The networks, built with TensorLayer 2: one table of layers per architecture.

--arch=dcgan (default): the course project's network, a DCGAN (Radford et al. 2016) for 28x28:
    G: z -> Dense 7*7*(4 gf) -> reshape 7x7 -> BN, LReLU(0.2) -> DeConv 2 gf 5x5 s1 -> BN, LReLU
         -> DeConv gf 5x5 s2 -> BN, LReLU -> DeConv 1 5x5 s2, tanh
    D: x -> Conv df 5x5 s2, LReLU(0.2) -> Conv 2 df 5x5 s2, BN, LReLU -> Conv 4 df 5x5 s2, BN, LReLU
         -> Flatten -> Dense 1 (linear)
--arch=infogan: the MNIST network of InfoGAN (Chen et al. 2016), this project's first default:
    G: z -> Dense 1024, BN, ReLU -> Dense 7*7*(2 gf), BN, ReLU -> DeConv gf 5x5 s2, BN, ReLU
         -> DeConv 1 5x5 s2, tanh
    D: x -> Conv df 5x5 s2, LReLU(0.2) -> Conv 2 df 5x5 s2, BN, LReLU -> Flatten
         -> Dense 1024, BN, LReLU -> Dense 1 (linear)

Both: N(0, 0.02) weights, BN decay 0.9 and scales N(1, 0.02). D's "features" (for feature
matching and minibatch discrimination) are the input of its output layer. A weight layer
followed by batch norm has no bias (BN's offset is one).
"""
from typing import NamedTuple

import tensorflow as tf
import tensorlayer as tl

IMAGE_SHAPE = (28, 28, 1)
KERNEL = (5, 5)

tl.logging.set_verbosity(tl.logging.WARN)  # TL logs every layer it builds at INFO


LRELU_SLOPE = 0.2


def lrelu(x):
    return tf.nn.leaky_relu(x, alpha=LRELU_SLOPE)


class Architecture(NamedTuple):
    """A G and a D as layer tables. Rows: ('dense', units), ('project', channels, side) (a
    Dense to side * side * channels units), ('reshape', channels, side) (to side x side x
    channels), ('conv' | 'deconv', channels, stride), ('norm',) (batch norm, then the
    activation), ('act',), ('flatten',), ('image', stride) (G's last layer: a 1-channel
    DeConv with tanh). Channels are multiples of --gf_dim / --df_dim."""
    generator: tuple
    g_act: object
    discriminator: tuple


ARCHITECTURES = {
    'dcgan': Architecture(
        generator=(('project', 4, 7), ('reshape', 4, 7), ('norm',), ('deconv', 2, 1), ('norm',),
                   ('deconv', 1, 2), ('norm',), ('image', 2)),
        g_act=lrelu,
        discriminator=(('conv', 1, 2), ('act',), ('conv', 2, 2), ('norm',), ('conv', 4, 2),
                       ('norm',), ('flatten',))),
    'infogan': Architecture(
        generator=(('dense', 1024), ('norm',), ('project', 2, 7), ('norm',), ('reshape', 2, 7),
                   ('deconv', 1, 2), ('norm',), ('image', 2)),
        g_act=tf.nn.relu,
        discriminator=(('conv', 1, 2), ('act',), ('conv', 2, 2), ('norm',), ('flatten',),
                       ('dense', 1024), ('norm',))),
}


class BatchNorm(tl.layers.BatchNorm):
    """TensorLayer's BatchNorm with its moving statistics updated in place.

    TL 2.2.5 rebinds `self.moving_mean` to the value returned by `assign_moving_average`, so
    once the model is built any tf.function reading it fails with "Can not convert a
    NoneType into a Tensor" (docs/tensorlayer.md). Assigning in place keeps the tracked
    variables and gives the same exponential moving average. Eval mode is TL's.
    """

    def forward(self, inputs):
        if not self.is_train:
            return super().forward(inputs)
        # oneDNN's fused kernel: statistics and normalisation in one pass over the batch
        # (2-D inputs as 1x1 images). It returns the unbiased variance; TL's moving average
        # uses the biased one, so it is rescaled by (n - 1) / n.
        images = inputs if inputs.shape.rank == 4 else inputs[:, None, None, :]
        outputs, mean, var = tf.compat.v1.nn.fused_batch_norm(
            images, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
        n = tf.cast(tf.size(images) // tf.shape(images)[-1], var.dtype)
        self.moving_mean.assign(self.decay * self.moving_mean + (1.0 - self.decay) * mean)
        self.moving_var.assign(self.decay * self.moving_var + (1.0 - self.decay) * var * (n - 1) / n)
        outputs = tf.reshape(outputs, tf.shape(inputs))
        return self.act(outputs) if self.act else outputs


def weight_gradient(inputs, out_grad, kernel_size, stride):
    """The weight gradient of a 'SAME' convolution of `inputs` (N, H, W, C_in) whose output
    gradient is `out_grad` (N, OH, OW, C_out), computed as a forward convolution: the batch is
    the channel axis, the output gradient the filter, dilated by the stride:
        dW[i, j, c, o] = sum_{n, y, x} inputs_padded[n, y*s + i, x*s + j, c] * out_grad[n, y, x, o].
    The same sum as TensorFlow's Conv2DBackpropFilter, which oneDNN runs slower in bfloat16
    (gan_step.FORWARD_WEIGHT_GRADIENT_MS). Returns (k, k, C_in, C_out)."""
    k, (_, height, width, _), (_, out_h, out_w, _) = kernel_size, inputs.shape, out_grad.shape
    need_h, need_w = (out_h - 1) * stride + k, (out_w - 1) * stride + k
    pad_h, pad_w = max(need_h - height, 0), max(need_w - width, 0)
    padded = tf.pad(inputs, [[0, 0], [pad_h // 2, pad_h - pad_h // 2],
                             [pad_w // 2, pad_w - pad_w // 2], [0, 0]])[:, :need_h, :need_w]
    by_channel = tf.nn.conv2d(tf.transpose(padded, [3, 1, 2, 0]), tf.transpose(out_grad, [1, 2, 0, 3]),
                              strides=1, padding='VALID', dilations=stride)
    return tf.transpose(by_channel, [1, 2, 0, 3])


def conv2d(x, kernel, stride):
    """tf.nn.conv2d(x, kernel, stride, 'SAME'), its weight gradient by `weight_gradient`."""
    @tf.custom_gradient
    def conv(x, kernel):
        def gradients(dy):
            dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=kernel,
                                                out_backprop=dy, strides=[1, stride, stride, 1],
                                                padding='SAME')
            return dx, weight_gradient(x, dy, kernel.shape[0], stride)
        return tf.nn.conv2d(x, kernel, stride, 'SAME'), gradients
    return conv(x, tf.convert_to_tensor(kernel))  # a tensor: the tape reaches the variable through its read


def conv2d_transpose(x, kernel, stride):
    """The 'SAME' transposed convolution of x (N, H, W, C_in) with kernel (k, k, C_out, C_in)
    to (N, H*s, W*s, C_out), its weight gradient by `weight_gradient` (the transposed
    convolution is the input gradient of a convolution, so the roles of x and dy swap)."""
    @tf.custom_gradient
    def deconv(x, kernel):
        def gradients(dy):
            return (tf.nn.conv2d(dy, kernel, stride, 'SAME'),
                    weight_gradient(dy, x, kernel.shape[0], stride))
        shape = tf.stack([tf.shape(x)[0], x.shape[1] * stride, x.shape[2] * stride, kernel.shape[2]])
        return tf.nn.conv2d_transpose(x, kernel, shape, stride, 'SAME'), gradients
    return deconv(x, tf.convert_to_tensor(kernel))


class _ForwardWeightGradient:
    """For a TensorLayer convolution layer ('SAME', NHWC): with `forward_weight_gradient`, its
    weight gradient is computed as a forward convolution (same weights, same output). The layer
    gives `_convolve(inputs)`: its output before the bias, and its bias or None."""

    def __init__(self, *args, forward_weight_gradient=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.forward_weight_gradient = forward_weight_gradient

    def forward(self, inputs):
        if not self.forward_weight_gradient:
            return super().forward(inputs)
        outputs, bias = self._convolve(inputs)
        if bias is not None:
            outputs = tf.nn.bias_add(outputs, bias)
        return self.act(outputs) if self.act else outputs


class Conv2d(_ForwardWeightGradient, tl.layers.Conv2d):
    """TensorLayer's Conv2d, with the forward-form weight gradient on request."""

    def _convolve(self, inputs):
        return conv2d(inputs, self.W, self._strides[1]), self.b if self.b_init else None


class DeConv2d(_ForwardWeightGradient, tl.layers.DeConv2d):
    """TensorLayer's DeConv2d (a Keras Conv2DTranspose inside), with the forward-form weight
    gradient on request."""

    def _convolve(self, inputs):
        return (conv2d_transpose(inputs, self.layer.kernel, self.strides[0]),
                self.layer.bias if self.layer.use_bias else None)


def _batch_norm(act):
    # Unit initial moving variance: eval before any training must not divide by sqrt(eps).
    return BatchNorm(decay=0.9, act=act, gamma_init=tl.initializers.random_normal(1.0, 0.02),
                     moving_var_init=tl.initializers.ones())


def _weights():
    return tl.initializers.random_normal(stddev=0.02)  # DCGAN initialisation


def normalised_next(table, i):
    """Whether batch norm follows row i (across a reshape): then the layer needs no bias."""
    rest = [row[0] for row in table[i + 1:] if row[0] != 'reshape']
    return bool(rest) and rest[0] == 'norm'


def _stack(table, h, width, act, batch_norm, forward_weight_gradient):
    """Apply the rows of a layer table to `h`. Without batch norm, a 'norm' row is the bare
    activation and the weight layers before it get biases. forward_weight_gradient(kind,
    c_in, c_out, stride) says which convolutions ('conv', 'deconv') compute their weight
    gradient as a forward convolution."""
    def conv_layer(kind, c_out, stride, **kwargs):
        layer = Conv2d if kind == 'conv' else DeConv2d
        forward = forward_weight_gradient(kind, h.shape[-1], c_out, stride)
        return layer(c_out, KERNEL, (stride, stride), W_init=_weights(),
                     forward_weight_gradient=forward, **kwargs)

    for i, (op, *args) in enumerate(table):
        bias = None if batch_norm and normalised_next(table, i) else tl.initializers.zeros()
        if op == 'dense':
            h = tl.layers.Dense(args[0], W_init=_weights(), b_init=bias)(h)
        elif op == 'project':
            h = tl.layers.Dense(args[1] ** 2 * args[0] * width, W_init=_weights(), b_init=bias)(h)
        elif op == 'reshape':
            h = tl.layers.Reshape([-1, args[1], args[1], args[0] * width])(h)
        elif op in ('conv', 'deconv'):
            h = conv_layer(op, args[0] * width, args[1], b_init=bias)(h)
        elif op == 'norm':
            h = _batch_norm(act)(h) if batch_norm else tl.layers.Lambda(act)(h)
        elif op == 'act':
            h = tl.layers.Lambda(act)(h)
        elif op == 'flatten':
            h = tl.layers.Flatten()(h)
        elif op == 'image':
            h = conv_layer('deconv', IMAGE_SHAPE[-1], args[0], act=tf.nn.tanh)(h)
        else:
            raise ValueError(f'unknown layer {op!r}')
    return h


def tensorflows_weight_gradients(kind, c_in, c_out, stride):
    return False


def generator(arch='dcgan', z_dim=100, gf_dim=64, name=None,
              forward_weight_gradient=tensorflows_weight_gradients):
    """z (batch, z_dim) -> images (batch, 28, 28, 1) in [-1, 1]."""
    spec = ARCHITECTURES[arch]
    z = tl.layers.Input([None, z_dim])
    x = _stack(spec.generator, z, gf_dim, spec.g_act, True, forward_weight_gradient)
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


def discriminator(arch='dcgan', df_dim=64, norm='batch', minibatch_disc=False, name=None,
                  forward_weight_gradient=tensorflows_weight_gradients):
    """images (batch, 28, 28, 1) -> (score (batch, 1), features).

    The score is unbounded (a logit, a critic value or an LSGAN regression output).
    `norm='none'` drops the batch norms (a WGAN-GP critic must not couple the samples of a
    batch, since its penalty is per sample). `minibatch_disc` inserts
    `MinibatchDiscrimination` before the output layer.
    """
    x = tl.layers.Input([None, *IMAGE_SHAPE])
    features = _stack(ARCHITECTURES[arch].discriminator, x, df_dim, lrelu, norm == 'batch',
                      forward_weight_gradient)
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
