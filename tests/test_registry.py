"""Every model of the registry: the loss contract, named terms, and the settings it declares."""
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import config
import gan_step
import losses
import registry
import utils
from conftest import ROOT
from test_study_grid import copy_project

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
    assert registry.protocol_table() in (ROOT / 'docs' / 'reference.md').read_text(), (
        'regenerate it: python -c "import registry; print(registry.protocol_table())"')


def readme_example():
    """The README's "How to add a model" code: (what goes in losses.py, the MODELS record)."""
    section = (ROOT / 'README.md').read_text().split('## How to add a model')[1]
    code = section.split('```python\n')[1].split('```')[0]
    loss, record = code.split('# registry.py, in MODELS\n')
    return loss.removeprefix('# losses.py\n'), record


def test_the_readmes_example_model_trains_as_written(tmp_path):
    """Pasted where the README says into a copy of the project, the example's loss computes its
    docstring's formula, main.py trains the model and logs its term, and the loss contract
    above holds for it."""
    copy_project(tmp_path)
    loss, record = readme_example()
    (tmp_path / 'losses.py').write_text((tmp_path / 'losses.py').read_text() + '\n\n' + loss)
    text = (tmp_path / 'registry.py').read_text()
    end = text.index('\n}\n', text.index('MODELS = {'))
    (tmp_path / 'registry.py').write_text(text[:end] + '\n' + textwrap.indent(record.rstrip(), '    ') + text[end:])
    (tmp_path / 'tests').mkdir()
    for name in ('conftest.py', 'test_registry.py', 'test_study_grid.py'):
        shutil.copy(ROOT / 'tests' / name, tmp_path / 'tests')

    def python(*args):
        return subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)

    # 1/2 mean(relu(1 - [0.5, 2])^2) + 1/2 mean(relu(1 + [-2, 0])^2) = 1/2 (0.125 + 0.5)
    value = python('-c', 'import tensorflow as tf, losses; print(float(losses.margin_lsgan_discriminator_loss('
                         'tf.constant([[0.5], [2.0]]), tf.constant([[-2.0], [0.0]]), 1.0)))')
    assert float(value.stdout.split()[-1]) == pytest.approx(0.3125), value.stderr[-2000:]
    trained = python('main.py', '--model=margin_lsgan', '--max_steps=2', '--gf_dim=4', '--df_dim=4',
                     '--sample_size=4', '--train_size=1000', '--eval_every=0', '--nodownload',
                     '--checkpoint_dir=c', '--sample_dir=s')
    assert trained.returncode == 0, trained.stderr[-2000:]
    rows = utils.read_csv(tmp_path / 'c' / 'margin_lsgan_c0_n1000_seed0' / 'losses.csv')
    assert [row['step'] for row in rows] == ['1', '2'] and all(np.isfinite(float(r['d_loss'])) for r in rows)
    contract = python('-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/test_registry.py',
                      '-k', 'test_loss_contract and margin_lsgan')
    assert contract.returncode == 0 and ' passed' in contract.stdout, contract.stdout[-2000:]
