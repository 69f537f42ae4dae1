"""The training step of the six models: each model's pair of objectives, the optimizers, and
one compiled step that updates D and/or G. Shared by training (main.py), the near-optimal
discriminator experiment (gradcheck.py), the 2-D toy (toy.py) and the benchmark.
"""
from typing import NamedTuple

import tensorflow as tf
from absl import logging

import losses
import model


class ForwardPass(NamedTuple):
    """What one forward pass computes: the images, D's scores and D's last hidden features."""
    real: tf.Tensor
    fake: tf.Tensor
    d_real: tf.Tensor
    d_fake: tf.Tensor
    f_real: tf.Tensor
    f_fake: tf.Tensor


def objectives(f, D, noise):
    """(D's loss, G's loss) for --model, each a function of a ForwardPass."""
    def gan_d(p):
        return losses.gan_discriminator_loss(p.d_real, p.d_fake, 1.0 - f.label_smoothing)

    def wgan_d(p):
        return losses.wasserstein_critic_loss(p.d_real, p.d_fake)

    def wgan_gp_d(p):
        per_sample = f.gp_epsilon == 'per_sample'
        shape = [f.batch_size if per_sample else 1] + [1] * (p.real.shape.rank - 1)
        penalty = losses.gradient_penalty(lambda x: D(x)[0], p.real, p.fake, noise.uniform(shape))
        return wgan_d(p) + f.gp_lambda * penalty

    def lsgan_d(p):
        return losses.lsgan_discriminator_loss(p.d_real, p.d_fake, a=f.a, b=f.b)

    def improved_gan_g(p):
        if f.feature_matching:
            return losses.feature_matching_loss(p.f_real, p.f_fake)
        return losses.gan_nonsaturating_generator_loss(p.d_fake)

    gan_g = {'minimax': losses.gan_minimax_generator_loss,
             'ns': losses.gan_nonsaturating_generator_loss}[f.gan_loss]
    return {
        'gan': (gan_d, lambda p: gan_g(p.d_fake)),
        'improved_gan': (gan_d, improved_gan_g),
        'wgan': (wgan_d, lambda p: losses.wasserstein_generator_loss(p.d_fake)),
        'wgan_gp': (wgan_gp_d, lambda p: losses.wasserstein_generator_loss(p.d_fake)),
        'lsgan': (lsgan_d, lambda p: losses.lsgan_generator_loss(p.d_fake, f.c)),
        'lsgan_reg': (lsgan_d, lambda p: losses.lsgan_reg_generator_loss(
            p.d_real, p.d_fake, f.c, f.lam)),
    }[f.model]


def generator_loss_parts(f):
    """The terms of G's loss whose gradients are logged apart ({} when it has one term)."""
    if f.model == 'lsgan_reg':
        return {'lsgan': lambda p: losses.lsgan_generator_loss(p.d_fake, f.c),
                'reg': lambda p: f.lam * losses.mean_matching_penalty(p.d_real, p.d_fake)}
    return {}


def use_mixed_precision(requested):
    """--mixed_precision: turn TensorFlow's float16 graph rewrite on when a GPU can use it.

    Returns whether it is on. On a CPU it is left off with a warning: the rewrite targets
    GPUs' float16 units (the bfloat16 CPU variant needs AVX-512/AMX, which this project's
    reference machine lacks).
    """
    if not requested:
        return False
    if not tf.config.list_physical_devices('GPU'):
        logging.warning('--mixed_precision: no GPU visible, training in float32 as without it.')
        return False
    tf.config.optimizer.set_experimental_options({'auto_mixed_precision': True})
    logging.info('--mixed_precision: float16 graph rewrite on; the step runs without XLA.')
    return True


def make_optimizer(f):
    if f.optimizer == 'rmsprop':
        return tf.keras.optimizers.RMSprop(f.lr)
    return tf.keras.optimizers.Adam(f.lr, beta_1=f.beta1, beta_2=f.beta2)


def make_train_step(G, D, g_opt, d_opt, noise, f):
    """The training step: a forward pass, then an update of D and/or G.

    `update_d` and `update_g` are Python booleans, so each combination is traced once. With
    both (the slides' joint schedule) G(z), D(x), D(G(z)) are computed once and each player's
    loss is differentiated with respect to its own weights only, as in the course project's
    code. The alternating schedule calls it with D alone, then with G alone.
    """
    d_objective, g_objective = objectives(f, D, noise)
    g_parts = generator_loss_parts(f)
    clipped = D.trainable_weights if f.clip_scope == 'all' else model.kernels_and_biases(D)

    @tf.function(jit_compile=f.xla)
    def train_step(real, update_d, update_g, probe=False):
        """`probe` adds gradient diagnostics from the same forward pass (no extra update):
        the norm of G's loss gradient (and of each part's), and the mean norm over generated
        samples of grad_x D(x), the signal the slides argue vanishes."""
        G.train()  # TL reads the mode while tracing: set it inside so every trace trains
        D.train()
        z = noise.normal([f.batch_size, f.z_dim])
        with tf.GradientTape(persistent=True) as tape:
            fake = G(z)
            (d_real, f_real), (d_fake, f_fake) = D(real), D(fake)
            p = ForwardPass(real, fake, d_real, d_fake, f_real, f_fake)
            out = {'g_loss': g_objective(p)}
            if update_d:
                out['d_loss'] = d_objective(p)
            parts = {name: part(p) for name, part in g_parts.items()} if probe else {}
        if update_g or probe:
            g_grads = tape.gradient(out['g_loss'], G.trainable_weights)
        if probe:
            out['g_grad_norm'] = tf.linalg.global_norm(g_grads)
            for name, value in parts.items():
                out[f'g_grad_norm_{name}'] = tf.linalg.global_norm(
                    tape.gradient(value, G.trainable_weights))
            grad_x = tf.reshape(tape.gradient(d_fake, fake), [f.batch_size, -1])
            out['d_grad_x_norm'] = tf.reduce_mean(tf.norm(grad_x, axis=1))
        if update_g:
            g_opt.apply_gradients(zip(g_grads, G.trainable_weights))
        if update_d:
            d_opt.apply_gradients(zip(tape.gradient(out['d_loss'], D.trainable_weights),
                                      D.trainable_weights))
            if f.model == 'wgan':
                for w in clipped:
                    w.assign(tf.clip_by_value(w, -f.clip, f.clip))
        return out

    return train_step


def take_step(train_step, f, real, step_number):
    """Training step `step_number` (counted from 1) under --schedule and --n_critic; every
    --grad_every steps it also measures the gradient diagnostics."""
    g_turn = step_number % f.n_critic == 0
    probe = bool(f.grad_every) and step_number % f.grad_every == 0
    if f.schedule == 'joint':
        return train_step(real, update_d=True, update_g=g_turn, probe=probe)
    out = train_step(real, update_d=True, update_g=False, probe=probe)
    if g_turn:
        out.update(train_step(real, update_d=False, update_g=True))
    return out


def make_sampler(G, xla=False):
    @tf.function(jit_compile=xla)
    def sample(z):
        G.eval()  # moving BatchNorm statistics, no update
        return G(z)

    return sample
