"""Shapes of G and D, and the BatchNorm fix inside tf.function."""
import numpy as np
import tensorflow as tf

import model


def test_shapes_and_output_range():
    G, D = model.generator(z_dim=10, gf_dim=4), model.discriminator(df_dim=4)
    G.eval()
    D.eval()
    images = G(tf.random.normal([5, 10]))
    assert images.shape == (5, 28, 28, 1)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    score, features = D(images)
    assert score.shape == (5, 1) and features.shape == (5, model.FC_UNITS)


def test_batch_norm_updates_moving_statistics_inside_tf_function():
    """Stock TL 2.2.5 fails here with "Can not convert a NoneType into a Tensor"."""
    x_in = model.tl.layers.Input([None, 3])
    bn = model.BatchNorm(decay=0.9)
    net = model.tl.models.Model(inputs=x_in, outputs=bn(x_in))
    before_mean, before_var = bn.moving_mean.numpy(), bn.moving_var.numpy()
    batch = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (64, 3)), tf.float32)

    @tf.function
    def train_forward(x):
        net.train()
        return net(x)

    out = train_forward(batch)
    mean, var = batch.numpy().mean(0), batch.numpy().var(0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * before_mean + 0.1 * mean, rtol=1e-4)
    np.testing.assert_allclose(bn.moving_var.numpy(), 0.9 * before_var + 0.1 * var, rtol=1e-4)
    assert bn.moving_mean is bn._nontrainable_weights[0]  # still the tracked variable
    expected = (batch.numpy() - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-3, atol=1e-4)


def test_discriminator_without_batch_norm_has_none():
    D = model.discriminator(df_dim=4, norm='none')
    assert not any(isinstance(layer, model.tl.layers.BatchNorm) for layer in D.all_layers)
    assert any(isinstance(layer, model.tl.layers.BatchNorm) for layer in model.discriminator(df_dim=4).all_layers)
