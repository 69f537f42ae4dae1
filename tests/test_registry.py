"""Every model of the registry: the loss contract, named terms, and the settings it declares."""
import numpy as np
import pytest
import tensorflow as tf

import config
import gan_step
import losses
import registry

BATCH = 6


def forward_pass(d_real, d_fake):
    """A ForwardPass of given scores; images and features random, D a fixed linear critic."""
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (BATCH, 28, 28, 1)), tf.float32)
    fake = tf.constant(rng.uniform(-1, 1, (BATCH, 28, 28, 1)), tf.float32)
    w = tf.constant(rng.normal(size=(1, 28, 28, 1)), tf.float32)
    features = [tf.Variable(rng.normal(size=(BATCH, 5)), dtype=tf.float32) for _ in range(2)]
    return registry.ForwardPass(real, fake, d_real, d_fake, *features,
                                lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])[:, None],
                                tf.random.Generator.from_seed(0))


def configs():
    """Every model under both protocols, and each model setting that selects another loss."""
    found = [config.Config(model=m, protocol=p) for m in registry.MODELS for p in registry.PROTOCOLS]
    return found + [config.Config(model='gan', gan_loss='ns'),
                    config.Config(model='improved_gan', feature_matching=True, label_smoothing=0.1)]


@pytest.mark.parametrize('cfg', configs(), ids=lambda c: f'{c.model}-{c.protocol}-{config.run_name(c)}')
@pytest.mark.parametrize('shape', [(BATCH,), (BATCH, 1)])
@pytest.mark.parametrize('logit', [80.0, -80.0])
def test_loss_contract(cfg, shape, logit):
    """Finite float32 scalars and finite gradients for saturated logits, either shape."""
    d_real = tf.Variable(tf.fill(shape, logit))
    d_fake = tf.Variable(tf.fill(shape, -logit))
    with tf.GradientTape(persistent=True) as tape:
        p = forward_pass(d_real, d_fake)
        terms = {'d': cfg.spec.d_loss(p, cfg), 'g': cfg.spec.g_loss(p, cfg)}
        totals = {player: gan_step.total(named) for player, named in terms.items()}
    assert tuple(terms['d']) == cfg.spec.d_terms and tuple(terms['g']) == cfg.spec.g_terms
    for player, named in terms.items():
        for name, value in named.items():
            assert value.dtype == tf.float32 and value.shape == (), (player, name)
            assert np.isfinite(float(value)), (player, name)
        grads = tape.gradient(totals[player], [d_real, d_fake, p.f_real, p.f_fake])
        assert any(g is not None for g in grads), player
        assert all(np.isfinite(g.numpy()).all() for g in grads if g is not None), player


def test_ralsgan_against_numpy():
    rng = np.random.default_rng(1)
    d_real, d_fake = rng.normal(0.5, 1, (16, 1)), rng.normal(-0.5, 2, (16, 1))
    d = np.mean((d_real - d_fake.mean() - 1) ** 2) + np.mean((d_fake - d_real.mean() + 1) ** 2)
    g = np.mean((d_fake - d_real.mean() - 1) ** 2) + np.mean((d_real - d_fake.mean() + 1) ** 2)
    assert float(losses.ralsgan_discriminator_loss(d_real, d_fake)) == pytest.approx(d, rel=1e-9)
    assert float(losses.ralsgan_generator_loss(d_real, d_fake)) == pytest.approx(g, rel=1e-9)


def test_ralsgan_generator_gradient_reaches_the_real_term_through_the_fake_mean():
    """G's loss depends on the fake scores through both terms (no stop-gradient), unlike the
    slides' regularizer, whose real mean is a constant."""
    d_real, d_fake = tf.constant([[1.0], [2.0]]), tf.Variable([[0.0], [1.0]])
    with tf.GradientTape() as tape:
        loss = losses.ralsgan_generator_loss(d_real, d_fake)
    # d/df_j: (2/n)(f_j - mr - 1) + (2/n) sum_i (r_i - mf + 1)(-1/n)
    f, r = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    expected = (f - r.mean() - 1) + (-(r - f.mean() + 1).sum() / 2)
    np.testing.assert_allclose(tape.gradient(loss, d_fake).numpy().ravel(), expected, rtol=1e-6)


def test_every_setting_a_model_declares_is_a_config_field():
    fields = set(config.Config.__dataclass_fields__)
    for spec in registry.MODELS.values():
        assert set(spec.settings) <= fields and set(spec.scheme_settings) <= fields
        for overrides in spec.protocols.values():
            assert set(overrides) <= set(registry.SCHEME['slides'])


def test_run_names_are_unique_across_models():
    names = [config.run_name(config.Config(model=m)) for m in registry.MODELS]
    assert len(set(names)) == len(names)


def test_the_documented_protocol_table_is_the_registry():
    from conftest import ROOT
    assert registry.protocol_table() in (ROOT / 'docs' / 'reference.md').read_text(), (
        'regenerate it: python -c "import registry; print(registry.protocol_table())"')
