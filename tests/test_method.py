"""The method against values: each model's loss terms as the registry wires them, against the
papers' formulas in numpy (values and which scores carry a gradient); the training step's
updates against Adam's first update of the hand-computed gradient; and the critic schedule.
These are the tests that a wrong method (targets swapped, the wrong tape, the wrong player)
fails, not only a crash: tests/mutation.py checks that they do."""
import numpy as np
import pytest
import tensorflow as tf

import config
import gan_step
import registry

BATCH = 6
OFF_DEFAULT = dict(a=-0.6, b=1.4, c=0.3, lam=2.5)  # every LSGAN setting off its default


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_terms(cfg, r, f, fr, ff, critic_w):
    """(D's terms, G's terms, the inputs G's loss is differentiated through) of cfg's model,
    from the papers' formulas; r, f = D(x), D(G(z)); fr, ff = D's features; critic_w = the
    weights of the linear critic whose gradient penalty is (||w|| - 1)^2 everywhere."""
    t = 1 - cfg.label_smoothing
    cross_entropy = (-np.mean(t * np.log(sigmoid(r)) + (1 - t) * np.log(1 - sigmoid(r)))
                     - np.mean(np.log(1 - sigmoid(f))))
    wasserstein_d = np.mean(f) - np.mean(r)
    lsgan_d = 0.5 * np.mean((r - cfg.b) ** 2) + 0.5 * np.mean((f - cfg.a) ** 2)
    lsgan_g = 0.5 * np.mean((f - cfg.c) ** 2)
    ralsgan = (np.mean((r - f.mean() - 1) ** 2) + np.mean((f - r.mean() + 1) ** 2),
               np.mean((f - r.mean() - 1) ** 2) + np.mean((r - f.mean() + 1) ** 2))
    non_saturating = -np.mean(np.log(sigmoid(f)))
    fake_only = {'d_fake'}
    return {
        'gan': ({'cross_entropy': cross_entropy},
                {'gan': np.mean(np.log(1 - sigmoid(f))) if cfg.gan_loss == 'minimax'
                 else non_saturating}, fake_only),
        'improved_gan': ({'cross_entropy': cross_entropy},
                         {'gan': np.sum((fr.mean(0) - ff.mean(0)) ** 2) if cfg.feature_matching
                          else non_saturating},
                         {'f_fake'} if cfg.feature_matching else fake_only),
        'wgan': ({'wasserstein': wasserstein_d}, {'wasserstein': -np.mean(f)}, fake_only),
        'wgan_gp': ({'wasserstein': wasserstein_d,
                     'gp': cfg.gp_lambda * (np.linalg.norm(critic_w) - 1) ** 2},
                    {'wasserstein': -np.mean(f)}, fake_only),
        'lsgan': ({'lsgan': lsgan_d}, {'lsgan': lsgan_g}, fake_only),
        # The slides' E_x[D(x)] is a constant for G: no gradient through the real scores.
        'lsgan_reg': ({'lsgan': lsgan_d},
                      {'lsgan': lsgan_g, 'reg': cfg.lam * (np.mean(f) - np.mean(r)) ** 2},
                      fake_only),
        # RaLSGAN's G loss depends on the real scores too.
        'ralsgan': ({'ralsgan': ralsgan[0]}, {'ralsgan': ralsgan[1]}, {'d_real', 'd_fake'}),
    }[cfg.model]


def value_configs():
    """Every model under both protocols with the LSGAN settings off their defaults, and each
    model setting that selects another loss."""
    found = [config.Config(model=m, protocol=p, **OFF_DEFAULT)
             for m in registry.MODELS for p in registry.PROTOCOLS]
    return found + [config.Config(model='gan', gan_loss='ns'),
                    config.Config(model='improved_gan', feature_matching=True),
                    config.Config(model='improved_gan', label_smoothing=0.2)]


def numeric_gradient(fn, x, h=1e-6):
    """Central differences of the scalar fn at x, element by element (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (fn(up) - fn(down)) / (2 * h)
    return grad


@pytest.mark.parametrize('cfg', value_configs(), ids=lambda c: f'{c.protocol}-{config.run_name(c)}')
def test_each_loss_term_is_its_formula_and_differentiates_through_the_right_scores(cfg):
    rng = np.random.default_rng(7)
    inputs = {'d_real': rng.normal(0.4, 1.0, (BATCH, 1)), 'd_fake': rng.normal(-0.3, 1.5, (BATCH, 1)),
              'f_real': rng.normal(size=(BATCH, 5)), 'f_fake': rng.normal(0.5, 1, (BATCH, 5))}
    critic_w = rng.normal(0, 0.05, (1, 28, 28, 1))
    images = [tf.constant(rng.uniform(-1, 1, (BATCH, 28, 28, 1)), tf.float32) for _ in range(2)]
    w = tf.constant(critic_w, tf.float32)
    variables = {name: tf.Variable(value) for name, value in inputs.items()}
    with tf.GradientTape(persistent=True) as tape:
        p = registry.ForwardPass(*images, variables['d_real'], variables['d_fake'],
                                 variables['f_real'], variables['f_fake'],
                                 lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])[:, None],
                                 tf.random.Generator.from_seed(0))
        terms = {'d': cfg.spec.d_loss(p, cfg), 'g': cfg.spec.g_loss(p, cfg)}
        # gp is left out of the differentiated sum: it does not depend on the scores.
        losses = {player: tf.add_n([v for k, v in named.items() if k != 'gp'])
                  for player, named in terms.items()}

    def reference(player, **changed):
        d, g, _ = reference_terms(cfg, *({**inputs, **changed}[k] for k in variables), critic_w)
        return {'d': d, 'g': g}[player]

    g_inputs = reference_terms(cfg, *inputs.values(), critic_w)[2]
    for player in ('d', 'g'):
        assert set(terms[player]) == set(reference(player)), player
        for name, value in reference(player).items():
            assert float(terms[player][name]) == pytest.approx(value, rel=2e-5), (player, name)
        # D's loss is differentiated through both scores, G's through those it names.
        through = {'d_real', 'd_fake'} if player == 'd' else g_inputs
        for name, variable in variables.items():
            grad = tape.gradient(losses[player], variable)
            if name not in through:
                assert grad is None or not np.any(grad.numpy()), (player, name)
                continue
            expected = numeric_gradient(lambda x: sum(
                v for k, v in reference(player, **{name: x}).items() if k != 'gp'), inputs[name])
            np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5, atol=1e-8,
                                       err_msg=f'{player} {name}')


# --- the training step ---------------------------------------------------------------------

def tiny(model='lsgan_reg', **settings):
    return config.Config(model=model, batch_size=8, z_dim=10, gf_dim=4, df_dim=4,
                         **{**OFF_DEFAULT, **settings})


@pytest.fixture(scope='module')
def networks():
    """One G and D (built once: TensorLayer names each new layer) and their initial weights."""
    tf.random.set_seed(11)
    G, D = gan_step.image_networks(tiny())
    return G, D, [w.numpy() for w in G.all_weights + D.all_weights]


def fresh_players(networks, cfg):
    """The networks at their initial weights, with new optimizers."""
    G, D, initial = networks
    for w, value in zip(G.all_weights + D.all_weights, initial, strict=True):
        w.assign(value)
    return gan_step.players(cfg, G, D)


def snapshot(net):
    return [w.numpy() for w in net.trainable_weights]


REAL = tf.constant(np.random.default_rng(2).uniform(-1, 1, (8, 28, 28, 1)), tf.float32)


def adam_updates(weights, gradients, cfg):
    """The weights after Adam's updates with each step's gradients in turn, from zero moments
    (Kingma & Ba, Alg. 1, in Keras's form: the bias corrections folded into the step size;
    eps = 1e-7)."""
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, grads in enumerate(gradients, start=1):
        alpha = cfg.lr * np.sqrt(1 - cfg.beta2 ** t) / (1 - cfg.beta1 ** t)
        m = [cfg.beta1 * m_ + (1 - cfg.beta1) * g.numpy() for m_, g in zip(m, grads)]
        v = [cfg.beta2 * v_ + (1 - cfg.beta2) * g.numpy() ** 2 for v_, g in zip(v, grads)]
        weights = [w - alpha * m_ / (np.sqrt(v_) + 1e-7) for w, m_, v_ in zip(weights, m, v)]
    return weights


def adam_first_update(weights, grads, cfg):
    return adam_updates(weights, [grads], cfg)


def hand_gradients(players, cfg, z):
    """tape.gradient of each player's loss w.r.t. its own weights, from one forward pass of
    REAL and z in training mode (as the step runs it)."""
    G, D = players.G, players.D
    G.train()
    D.train()
    with tf.GradientTape(persistent=True) as tape:
        p = gan_step.forward(G, D, REAL, z, tf.random.Generator.from_seed(0))
        d_loss = gan_step.total(cfg.spec.d_loss(p, cfg))
        g_loss = gan_step.total(cfg.spec.g_loss(p, cfg))
    return tape.gradient(d_loss, D.trainable_weights), tape.gradient(g_loss, G.trainable_weights)


def assert_weights(actual, expected, what):
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        np.testing.assert_allclose(a, e, rtol=0, atol=2e-7, err_msg=f'{what} weight {i}')


def run_step(networks, cfg, seed=5, **call):
    """Players after one train_step call from the initial weights (z from `seed`)."""
    players = fresh_players(networks, cfg)
    step = gan_step.make_train_step(players, tf.random.Generator.from_seed(seed), cfg)
    step(REAL, **call)
    return snapshot(players.G), snapshot(players.D)


@pytest.mark.parametrize('model', ['lsgan_reg', 'gan', 'ralsgan'])
def test_the_joint_step_is_adams_first_update_of_each_players_own_loss(networks, model):
    cfg = tiny(model)
    z = tf.random.Generator.from_seed(5).normal([cfg.batch_size, cfg.z_dim])  # the step's z
    players = fresh_players(networks, cfg)
    g0, d0 = snapshot(players.G), snapshot(players.D)
    d_grads, g_grads = hand_gradients(players, cfg, z)
    g1, d1 = run_step(networks, cfg, update_d=True, update_g=True)
    assert_weights(d1, adam_first_update(d0, d_grads, cfg), 'D')
    assert_weights(g1, adam_first_update(g0, g_grads, cfg), 'G')
    # Each player's update is the same with the other player's update left out (another
    # trace of the step: equal to float32's rounding), and the other player stays put.
    d_only = run_step(networks, cfg, update_d=True, update_g=False)
    g_only = run_step(networks, cfg, update_d=False, update_g=True)
    assert_weights(d_only[1], d1, 'D alone')
    assert_weights(g_only[0], g1, 'G alone')
    assert all(np.array_equal(a, b) for a, b in zip(d_only[0], g0))
    assert all(np.array_equal(a, b) for a, b in zip(g_only[1], d0))


def test_two_joint_steps_are_two_adam_updates_with_the_moments_carried_over(networks):
    """The first Adam update is lr * sign(g) whatever beta1 is; the second shows the moments."""
    cfg = tiny('lsgan_reg')
    z = tf.random.Generator.from_seed(5)
    z1, z2 = (z.normal([cfg.batch_size, cfg.z_dim]) for _ in range(2))
    players = fresh_players(networks, cfg)
    step = gan_step.make_train_step(players, tf.random.Generator.from_seed(5), cfg)
    g0, d0 = snapshot(players.G), snapshot(players.D)
    d1, g1 = hand_gradients(players, cfg, z1)
    step(REAL, update_d=True, update_g=True)
    d2, g2 = hand_gradients(players, cfg, z2)  # at the weights the first step left
    step(REAL, update_d=True, update_g=True)
    assert_weights(snapshot(players.D), adam_updates(d0, [d1, d2], cfg), 'D')
    assert_weights(snapshot(players.G), adam_updates(g0, [g1, g2], cfg), 'G')


def test_a_players_settings_act_on_its_own_update_only(networks):
    """(a, b) are D's targets, (c, lambda) G's: changing one side's leaves the other's update
    bit-identical and changes its own."""
    base = run_step(networks, tiny(), update_d=True, update_g=True)
    d_side = run_step(networks, tiny(a=-0.2, b=2.0), update_d=True, update_g=True)
    g_side = run_step(networks, tiny(c=0.9, lam=7.0), update_d=True, update_g=True)
    for player, same, other in ((0, d_side, g_side), (1, g_side, d_side)):
        assert all(np.array_equal(x, y) for x, y in zip(base[player], same[player]))
        assert not all(np.array_equal(x, y) for x, y in zip(base[player], other[player]))


def test_the_alternating_schedule_updates_g_on_a_fresh_z_after_d(networks):
    cfg = tiny('lsgan', protocol='paper')
    assert cfg.schedule == 'alternating' and cfg.n_critic == 1
    z = tf.random.Generator.from_seed(5)
    z_d, z_g = (z.normal([cfg.batch_size, cfg.z_dim]) for _ in range(2))
    players = fresh_players(networks, cfg)
    g0, d0 = snapshot(players.G), snapshot(players.D)
    d_grads, _ = hand_gradients(players, cfg, z_d)
    d1 = adam_first_update(d0, d_grads, cfg)
    for w, value in zip(players.D.trainable_weights, d1):  # G steps against the updated D
        w.assign(value)
    _, g_grads = hand_gradients(players, cfg, z_g)

    players = fresh_players(networks, cfg)
    step = gan_step.make_train_step(players, tf.random.Generator.from_seed(5), cfg)
    gan_step.take_step(step, cfg.replace(grad_every=0), gan_step.CriticSchedule(cfg), REAL, 1)
    assert_weights(snapshot(players.D), d1, 'D')
    assert_weights(snapshot(players.G), adam_first_update(g0, g_grads, cfg), 'G')


@pytest.mark.parametrize('schedule', ['joint', 'alternating'])
def test_g_steps_once_every_n_critic_steps_and_d_at_each(networks, schedule):
    cfg = tiny('wgan', protocol='paper', schedule=schedule, critic_warmup=False, grad_every=0)
    assert cfg.n_critic == 5
    players = fresh_players(networks, cfg)
    step = gan_step.make_train_step(players, tf.random.Generator.from_seed(5), cfg)
    critic_schedule = gan_step.CriticSchedule(cfg)
    g_before, d_before = snapshot(players.G), snapshot(players.D)
    for number in range(1, 11):
        gan_step.take_step(step, cfg, critic_schedule, REAL, number)
        g_after, d_after = snapshot(players.G), snapshot(players.D)
        g_moved = not all(np.array_equal(a, b) for a, b in zip(g_before, g_after))
        assert g_moved == (number % 5 == 0), number
        assert not all(np.array_equal(a, b) for a, b in zip(d_before, d_after)), number
        g_before, d_before = g_after, d_after


def test_wgan_clips_after_its_update_and_no_other_model_clips(networks):
    big = dict(lr=0.5, clip=0.01)  # a step that pushes every weight far past the bound
    clipped = run_step(networks, tiny('wgan', **big), update_d=True, update_g=True)[1]
    assert max(np.abs(w).max() for w in clipped) <= 0.01 + 1e-7
    unclipped = run_step(networks, tiny('wgan_gp', **big), update_d=True, update_g=True)[1]
    assert max(np.abs(w).max() for w in unclipped) > 0.1
