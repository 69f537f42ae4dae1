"""The four baselines: their losses, gradient penalty, clipping, minibatch discrimination,
the two protocols, and a one-batch run of every model under both."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import config
import gan_step
import losses
import model
import registry
import train

RNG = np.random.default_rng(3)


def test_label_smoothing_matches_cross_entropy_with_soft_targets():
    d_real, d_fake = RNG.normal(size=(8, 1)), RNG.normal(size=(8, 1))
    s_real, s_fake = 1 / (1 + np.exp(-d_real)), 1 / (1 + np.exp(-d_fake))
    t = 0.9
    expected = (-np.mean(t * np.log(s_real) + (1 - t) * np.log(1 - s_real))
                - np.mean(np.log(1 - s_fake)))
    assert float(losses.gan_discriminator_loss(d_real, d_fake, t)) == pytest.approx(expected, rel=1e-6)


def test_feature_matching_loss_and_its_constant_target():
    f_real = tf.constant(RNG.normal(size=(8, 5)))
    f_fake = tf.constant(RNG.normal(size=(8, 5)))
    with tf.GradientTape() as tape:
        tape.watch(f_real)
        loss = losses.feature_matching_loss(f_real, f_fake)
    expected = np.sum((f_real.numpy().mean(0) - f_fake.numpy().mean(0)) ** 2)
    assert float(loss) == pytest.approx(expected, rel=1e-9)
    assert tape.gradient(loss, f_real) is None


@pytest.mark.parametrize('per_sample', [True, False])
def test_gradient_penalty_of_a_linear_critic_is_exact(per_sample):
    """For D(x) = w.x the gradient is w wherever x_hat lies: penalty = (||w|| - 1)^2."""
    w = tf.constant(RNG.normal(size=(1, 28, 28, 1)), tf.float32)
    real = tf.constant(RNG.normal(size=(6, 28, 28, 1)), tf.float32)
    fake = tf.constant(RNG.normal(size=(6, 28, 28, 1)), tf.float32)
    epsilon = tf.random.uniform([6 if per_sample else 1, 1, 1, 1])

    def critic(x):
        return tf.reduce_sum(w * x, axis=[1, 2, 3])[:, None]

    expected = (np.linalg.norm(w.numpy()) - 1) ** 2
    assert float(losses.gradient_penalty(critic, real, fake, epsilon)) == pytest.approx(expected, rel=1e-4)


def test_gradient_penalty_interpolates_per_sample():
    """With D(x) = ||x||^2 / 2 the gradient at x_hat is x_hat itself, so the penalty shows
    which points were interpolated."""
    real, fake = tf.ones([2, 28, 28, 1]), tf.zeros([2, 28, 28, 1])
    epsilon = tf.constant([0.25, 0.75], shape=[2, 1, 1, 1])

    def critic(x):
        return 0.5 * tf.reduce_sum(x ** 2, axis=[1, 2, 3])[:, None]

    norms = np.array([0.25, 0.75]) * 28  # ||eps * 1|| over 784 pixels
    assert float(losses.gradient_penalty(critic, real, fake, epsilon)) == pytest.approx(
        np.mean((norms - 1) ** 2), rel=1e-5)


def tiny_players(cfg):
    return gan_step.players(cfg, *gan_step.image_networks(cfg))


@pytest.mark.parametrize('scope', ['all', 'kernels_biases'])
def test_wgan_update_clips_the_chosen_weights(scope):
    cfg = config.Config(model='wgan', clip_scope=scope, clip=0.01, lr=0.5, batch_size=8,
                        z_dim=10, gf_dim=4, df_dim=4)  # a big step pushes weights past the bound
    players = tiny_players(cfg)
    D = players.D
    step = gan_step.make_train_step(players, tf.random.Generator.from_seed(0), cfg)
    step(tf.random.uniform([8, 28, 28, 1], -1, 1), update_d=True, update_g=True)
    clipped = model.kernels_and_biases(D) if scope == 'kernels_biases' else D.trainable_weights
    assert all(float(tf.reduce_max(tf.abs(w))) <= 0.01 + 1e-7 for w in clipped)
    unclipped = [w for w in D.trainable_weights if all(w is not c for c in clipped)]
    if scope == 'kernels_biases':  # BN scales start near 1 and are left alone
        assert unclipped and max(float(tf.reduce_max(tf.abs(w))) for w in unclipped) > 0.5
    else:
        assert not unclipped


def test_kernels_and_biases_excludes_exactly_the_batch_norm_weights():
    D = model.discriminator(df_dim=4)
    names = [w.name for w in model.kernels_and_biases(D)]
    assert len(names) == len(D.trainable_weights) - 4  # two BN layers, gamma and beta each
    assert not any('batchnorm' in n for n in names)


def test_minibatch_discrimination_sees_the_batch():
    x_in = model.tl.layers.Input([None, 6])
    layer = model.MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
    net = model.tl.models.Model(inputs=x_in, outputs=layer(x_in))
    net.eval()
    batch = RNG.normal(size=(4, 6)).astype(np.float32)
    out = net(batch).numpy()
    assert out.shape == (4, 6 + 3)
    np.testing.assert_array_equal(out[:, :6], batch)
    # A copy of sample 1 replaces sample 3: sample 0's row changes though sample 0 did not.
    changed = batch.copy()
    changed[3] = batch[1]
    assert not np.allclose(net(changed).numpy()[0, 6:], out[0, 6:])
    # Self is excluded: a batch of one sample has nothing to be close to.
    np.testing.assert_allclose(net(batch[:1]).numpy()[0, 6:], 0.0, atol=1e-6)
    # Against numpy: o_i,b = sum_{j != i} exp(-||M_i,b - M_j,b||_1).
    m = (batch @ layer.T.numpy()).reshape(4, 3, 2)
    l1 = np.abs(m[:, None] - m[None]).sum(-1)
    np.testing.assert_allclose(out[:, 6:], np.exp(-l1).sum(1) - 1, rtol=1e-5)


DOCUMENTED = {  # docs/reference.md, "Models and protocols"; checked against the sources (see registry.py)
    ('slides', 'wgan'): dict(schedule='joint', n_critic=1, critic_warmup=False,
                             optimizer='rmsprop', lr=1e-4, clip=0.01, clip_scope='all',
                             critic_norm='batch'),
    ('paper', 'wgan'): dict(schedule='alternating', n_critic=5, critic_warmup=True,
                            optimizer='rmsprop', lr=5e-5, rho=0.99, rms_epsilon=1e-8, clip=0.01,
                            clip_scope='all', critic_norm='batch'),
    ('slides', 'wgan_gp'): dict(schedule='joint', n_critic=1, optimizer='adam', lr=1e-4, beta1=0.5,
                                gp_lambda=1.0, gp_epsilon='per_sample', critic_norm='batch'),
    ('paper', 'wgan_gp'): dict(schedule='alternating', n_critic=5, optimizer='adam', lr=1e-4,
                               beta1=0.0, beta2=0.9, gp_lambda=10.0, gp_epsilon='per_sample',
                               critic_norm='none'),
    ('slides', 'lsgan'): dict(schedule='joint', n_critic=1, optimizer='adam', lr=1e-4, beta1=0.5),
    ('paper', 'gan'): dict(schedule='alternating', n_critic=1, optimizer='adam', lr=1e-4, beta1=0.5),
}


@pytest.mark.parametrize('protocol, model_name', sorted(DOCUMENTED))
def test_protocols_resolve_to_the_documented_settings(protocol, model_name):
    cfg = config.Config(model=model_name, protocol=protocol)
    for name, value in DOCUMENTED[protocol, model_name].items():
        assert getattr(cfg, name) == value, name


def test_an_explicit_setting_beats_the_protocol():
    cfg = config.Config(model='wgan', protocol='paper', n_critic=2)
    assert cfg.n_critic == 2 and cfg.lr == 5e-5
    # Another model gets its own scheme, except what the user set (gradcheck's D configs).
    lsgan = cfg.for_model('lsgan')
    assert (lsgan.n_critic, lsgan.lr, lsgan.optimizer) == (2, 1e-4, 'adam')
    assert config.Config(model='wgan', protocol='paper').for_model('lsgan').n_critic == 1


def test_paper_wgan_warms_the_critic_up_as_the_reference_code():
    """100 critic steps before each of the first 25 G steps and every 500th, 5 otherwise."""
    schedule = gan_step.CriticSchedule(config.Config(model='wgan', protocol='paper'))
    g_steps = [step for step in range(1, 8000) if schedule.g_turn(step)]
    gaps = np.diff([0, *g_steps])
    assert list(gaps[:25]) == [100] * 25 and set(gaps[25:500]) == {5}
    assert gaps[500] == 100 and gaps[501] == 5
    assert [s for s in range(1, 20) if gan_step.CriticSchedule(
        config.Config(model='wgan_gp', protocol='paper')).g_turn(s)] == [5, 10, 15]
    resumed = gan_step.CriticSchedule(config.Config(model='wgan', protocol='paper'))
    assert [s for s in range(4000, 6000) if resumed.g_turn(s)] == [s for s in g_steps if 4000 <= s < 6000]


@pytest.mark.parametrize('protocol', registry.PROTOCOLS)
@pytest.mark.parametrize('model_name', registry.MODELS)
def test_one_batch_run_of_every_model(tiny_config, protocol, model_name):
    """train.train in this process (the subprocess path is tested in test_main.py)."""
    cfg = tiny_config(model=model_name, protocol=protocol, batch_size=8, max_steps=3,
                      critic_warmup=False)
    train.train(cfg)
    run = config.run_name(cfg)
    assert (Path(cfg.sample_dir) / run / 'epoch_001.png').stat().st_size > 0
    assert (Path(cfg.checkpoint_dir) / run / 'ckpt-3.index').exists()
    columns = (Path(cfg.checkpoint_dir) / run / 'losses.csv').read_text().splitlines()[0].split(',')
    assert columns == ['step', 'epoch', *gan_step.log_columns(cfg.spec), 'wall_s']
