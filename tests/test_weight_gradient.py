"""Weight gradients as forward convolutions (model.weight_gradient, --precision=mixed): equal to
TensorFlow's Conv2DBackpropFilter on every convolution of both architectures and on odd and even
sizes at strides 1 and 2, in float32 and in bfloat16; a whole training step with them forced on
equals the plain step; the table picks the faster form per layer; checkpoints carry over."""
import numpy as np
import pytest
import tensorflow as tf

import flags
import gan_step
import model

# (input H, W, C_in; output gradient H, W, C_out; stride) of every convolution's weight
# gradient at the default widths, batch 64 (a transposed convolution's input is the gradient of
# its output), and odd and even sizes at both strides.
SHAPES = [
    ((28, 28, 1), (14, 14, 64), 2), ((14, 14, 64), (7, 7, 128), 2),  # both D's first convs
    ((7, 7, 128), (4, 4, 256), 2),  # dcgan D
    ((7, 7, 128), (7, 7, 256), 1), ((14, 14, 64), (7, 7, 128), 2),  # dcgan G's deconvs
    ((28, 28, 1), (14, 14, 64), 2),  # both G's image layers
    ((14, 14, 64), (7, 7, 128), 2),  # infogan G's deconv
    ((9, 9, 3), (5, 5, 4), 2), ((8, 8, 3), (4, 4, 4), 2), ((9, 9, 3), (9, 9, 4), 1),
    ((8, 8, 3), (8, 8, 4), 1), ((9, 8, 3), (5, 4, 4), 2),
]


def tensorflows(x, dy, stride):
    return tf.raw_ops.Conv2DBackpropFilter(
        input=x, filter_sizes=[5, 5, x.shape[-1], dy.shape[-1]], out_backprop=dy,
        strides=[1, stride, stride, 1], padding='SAME')


@pytest.mark.parametrize('x_shape, dy_shape, stride', SHAPES)
def test_the_forward_form_equals_tensorflows_weight_gradient(x_shape, dy_shape, stride):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((64, *x_shape)), tf.float32)
    dy = tf.constant(rng.standard_normal((64, *dy_shape)), tf.float32)
    expected = tensorflows(x, dy, stride).numpy()
    scale = np.abs(expected).max()
    ours = model.weight_gradient(x, dy, 5, stride).numpy()
    assert ours.shape == expected.shape == (5, 5, x_shape[-1], dy_shape[-1])
    assert np.abs(ours - expected).max() <= 1e-5 * scale
    # bfloat16 inputs: within bfloat16's rounding (8 bits of mantissa) of the exact sum of them
    x16, dy16 = tf.cast(x, tf.bfloat16), tf.cast(dy, tf.bfloat16)
    exact = tensorflows(tf.cast(x16, tf.float32), tf.cast(dy16, tf.float32), stride).numpy()
    ours16 = tf.cast(model.weight_gradient(x16, dy16, 5, stride), tf.float32).numpy()
    assert np.abs(ours16 - exact).max() <= 2 ** -7 * np.abs(exact).max()


def forced(*_):
    return True


@pytest.mark.parametrize('layer', [model.Conv2d, model.DeConv2d])
@pytest.mark.parametrize('stride, size', [(1, 7), (2, 7), (2, 8)])
def test_a_layer_with_the_forward_form_has_the_same_output_and_gradients(layer, stride, size):
    x = tf.random.stateless_normal([4, size, size, 6], seed=[1, 2])
    plain = layer(5, (5, 5), (stride, stride), b_init=tf.initializers.zeros(), act=tf.nn.tanh,
                  in_channels=6)
    forward = layer(5, (5, 5), (stride, stride), b_init=tf.initializers.zeros(), act=tf.nn.tanh,
                    in_channels=6, forward_weight_gradient=True)
    for ours, theirs in zip(forward.all_weights, plain.all_weights):
        ours.assign(tf.random.stateless_normal(ours.shape, seed=[3, 4]) * 0.1)
        theirs.assign(ours)
    results = []
    for net in (plain, forward):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = net.forward(x)
            loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, seed=[5, 6]))
        results.append([y, *tape.gradient(loss, [x, *net.all_weights])])
    for theirs, ours in zip(*results):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5,
                                   atol=1e-5 * float(tf.reduce_max(tf.abs(theirs))))


@pytest.mark.parametrize('model_name', ['lsgan_reg', 'wgan_gp'])
def test_a_training_step_with_the_forward_form_forced_on_equals_the_plain_one(model_name):
    """float32, default widths: the gradients the step applies to G and D (read as the change
    of the weights under SGD with learning rate 1) are equal; wgan_gp differentiates through
    D's input gradient (its penalty) too."""
    cfg = flags.config_of(['main.py', f'--model={model_name}'])
    real = tf.random.stateless_uniform([64, 28, 28, 1], seed=[7, 8], minval=-1, maxval=1)
    applied = []
    for chosen in (model.tensorflows_weight_gradients, forced):
        tf.random.set_seed(0)
        G = model.generator(cfg.arch, cfg.z_dim, cfg.gf_dim, forward_weight_gradient=chosen)
        D = model.discriminator(cfg.arch, cfg.df_dim, cfg.critic_norm, forward_weight_gradient=chosen)
        g_opt, d_opt = tf.keras.optimizers.SGD(1.0), tf.keras.optimizers.SGD(1.0)
        g_opt.build(G.trainable_weights)
        d_opt.build(D.trainable_weights)
        weights = G.trainable_weights + D.trainable_weights
        before = [w.numpy() for w in weights]
        step = gan_step.make_train_step(gan_step.Players(G, D, g_opt, d_opt),
                                        tf.random.Generator.from_seed(0), cfg)
        step(real, update_d=True, update_g=True, probe=False)
        applied.append([b - w.numpy() for b, w in zip(before, weights)])
    assert sum(np.abs(theirs).max() > 0 for theirs in applied[0]) > 10  # (WGAN's output bias: 0)
    for theirs, ours in zip(*applied):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())


def test_the_table_picks_the_faster_form_per_layer_and_only_under_mixed(monkeypatch):
    monkeypatch.setattr(gan_step, 'cpu_flags', lambda: {'avx512_bf16', 'amx_bf16'})
    assert gan_step.forward_weight_gradients('float32') is model.tensorflows_weight_gradients
    assert gan_step.forward_weight_gradients('mixed', 'tensorflow') is model.tensorflows_weight_gradients
    chosen = gan_step.forward_weight_gradients('mixed')
    table = gan_step.FORWARD_WEIGHT_GRADIENT_MS['amx_bf16']
    faster = {key for key, (tf_ms, forward_ms) in table.items() if forward_ms < tf_ms}
    assert ('conv', 64, 128, 2) in faster and ('deconv', 64, 1, 2) not in faster
    assert {key for key in table if chosen(*key)} == faster
    assert not chosen('conv', 3, 64, 2)  # not measured: TensorFlow's
    monkeypatch.setattr(gan_step, 'cpu_flags', lambda: {'avx512_bf16'})
    chosen = gan_step.forward_weight_gradients('mixed')
    assert chosen('conv', 128, 256, 2) and not chosen('deconv', 256, 128, 1)  # Zen 5's numbers
    monkeypatch.setattr(gan_step, 'cpu_flags', lambda: {'avx2'})
    assert gan_step.forward_weight_gradients('mixed') is model.tensorflows_weight_gradients


def test_a_checkpoint_carries_over_between_the_two_forms(tmp_path):
    nets = [model.generator('dcgan', forward_weight_gradient=f) for f in
            (model.tensorflows_weight_gradients, forced)]
    path = tf.train.Checkpoint(G=nets[0].all_weights).save(str(tmp_path / 'ckpt'))
    tf.train.Checkpoint(G=nets[1].all_weights).restore(path).assert_existing_objects_matched()
    for saved, restored in zip(nets[0].all_weights, nets[1].all_weights):
        assert saved.shape == restored.shape and np.array_equal(saved.numpy(), restored.numpy())
    assert ([layer.name.rstrip('_0123456789') for layer in nets[0].all_layers]
            == [layer.name.rstrip('_0123456789') for layer in nets[1].all_layers])
