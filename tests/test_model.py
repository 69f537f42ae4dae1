"""Both architectures' shapes and parameter counts, and the BatchNorm fix inside tf.function."""
import numpy as np
import pytest
import tensorflow as tf

import model
from benchmarks import step_benchmark


def n_params(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize('arch, features', [('dcgan', 4 * 4 * 4 * 4), ('infogan', 1024)])
def test_shapes_and_output_range(arch, features):
    G, D = model.generator(arch, z_dim=10, gf_dim=4), model.discriminator(arch, df_dim=4)
    G.eval()
    D.eval()
    images = G(tf.random.normal([5, 10]))
    assert images.shape == (5, 28, 28, 1)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    score, feats = D(images)
    assert score.shape == (5, 1) and feats.shape == (5, features)  # dcgan: D's last conv block


def test_dcgan_parameter_counts_by_hand():
    """gf = df = 64, z 100, 5x5 kernels; a layer followed by batch norm has no bias."""
    g = (100 * 7 * 7 * 256            # Dense to 7x7x256
         + 2 * 256                    # BN scale, offset
         + 5 * 5 * 256 * 128 + 2 * 128  # DeConv 256->128 s1, BN
         + 5 * 5 * 128 * 64 + 2 * 64  # DeConv 128->64 s2, BN
         + 5 * 5 * 64 * 1 + 1)        # DeConv 64->1 s2 with bias, tanh
    d = (5 * 5 * 1 * 64 + 64          # Conv 1->64 with bias, LReLU
         + 5 * 5 * 64 * 128 + 2 * 128  # Conv 64->128, BN
         + 5 * 5 * 128 * 256 + 2 * 256  # Conv 128->256, BN
         + 4 * 4 * 256 + 1)           # Dense 4096->1
    d_no_norm = d - 2 * 128 - 2 * 256 + 128 + 256  # biases instead of BN offsets and scales
    assert n_params(model.generator('dcgan').trainable_weights) == g == 2_280_897
    assert n_params(model.discriminator('dcgan').trainable_weights) == d == 1_030_529
    assert n_params(model.discriminator('dcgan', norm='none').trainable_weights) == d_no_norm
    G = model.generator('dcgan')
    assert n_params(G.all_weights) - n_params(G.trainable_weights) == 2 * (256 + 128 + 64)


def test_infogan_parameter_counts_by_hand():
    g = 100 * 1024 + 2 * 1024 + 1024 * 6272 + 2 * 6272 + 5 * 5 * 128 * 64 + 2 * 64 + 5 * 5 * 64 + 1
    d = 5 * 5 * 64 + 64 + 5 * 5 * 64 * 128 + 2 * 128 + 6272 * 1024 + 2 * 1024 + 1024 + 1
    assert n_params(model.generator('infogan').trainable_weights) == g
    assert n_params(model.discriminator('infogan').trainable_weights) == d


class TensorLayerBatchNorm(model.BatchNorm):
    """The benchmark's before: TL's own unfused ops, statistics repointed (benchmarks/)."""
    forward = step_benchmark.tensorlayer_batch_norm


@pytest.mark.parametrize('layer', [model.BatchNorm, TensorLayerBatchNorm])
@pytest.mark.parametrize('shape', [(64, 3), (16, 5, 5, 3)])
def test_batch_norm_updates_moving_statistics_inside_tf_function(shape, layer):
    """Stock TL 2.2.5 fails here with "Can not convert a NoneType into a Tensor"; the fused
    kernel's statistics must equal the biased batch moments TL's average uses, and the
    benchmark's unfused A/B variant must compute the same."""
    x_in = model.tl.layers.Input([None, *shape[1:]])
    bn = layer(decay=0.9)
    net = model.tl.models.Model(inputs=x_in, outputs=bn(x_in))
    before_mean, before_var = bn.moving_mean.numpy(), bn.moving_var.numpy()
    batch = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape), tf.float32)

    @tf.function
    def train_forward(x):
        net.train()
        return net(x)

    out = train_forward(batch)
    axes = tuple(range(len(shape) - 1))
    mean, var = batch.numpy().mean(axes), batch.numpy().var(axes)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * before_mean + 0.1 * mean, rtol=1e-4)
    np.testing.assert_allclose(bn.moving_var.numpy(), 0.9 * before_var + 0.1 * var, rtol=1e-4)
    assert bn.moving_mean is bn._nontrainable_weights[0]  # still the tracked variable
    expected = (batch.numpy() - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-3, atol=1e-4)


def test_discriminator_without_batch_norm_has_none():
    D = model.discriminator(df_dim=4, norm='none')
    assert not any(isinstance(layer, model.tl.layers.BatchNorm) for layer in D.all_layers)
    assert any(isinstance(layer, model.tl.layers.BatchNorm) for layer in model.discriminator(df_dim=4).all_layers)
