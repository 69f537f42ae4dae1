"""The training step: the networks and their optimizers, one forward pass, each player's loss
as named terms (registry.MODELS), the updates, and the gradient probe. Shared by the training
loop (train.py), the near-optimal discriminator experiment (studies/gradcheck.py), the 2-D toy
(studies/toy.py) and the benchmark.
"""
import bisect
import platform
from typing import NamedTuple

import tensorflow as tf
from absl import logging

import model
from registry import ForwardPass

BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')
VECTOR_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')


class Players(NamedTuple):
    G: object
    D: object
    g_opt: object
    d_opt: object


# Weight gradients of the dcgan layers in bfloat16 (batch 64, 5x5 kernels, 2 threads, median of
# 30, ms): TensorFlow's Conv2DBackpropFilter against model.weight_gradient, the same sum as a
# forward convolution, which oneDNN runs on faster kernels. Under --precision=mixed a layer
# takes the faster; a shape not measured (other widths) keeps TensorFlow's. By the CPU's
# bfloat16 unit, then (kind, input channels, output channels, stride):
FORWARD_WEIGHT_GRADIENT_MS = {
    # Intel Xeon (family 6, model 167), TensorFlow 2.21: benchmarks/weight_gradient_probe.py
    'amx_bf16': {('conv', 1, 64, 2): (1.64, 1.79), ('conv', 64, 128, 2): (4.12, 3.32),
                 ('conv', 128, 256, 2): (9.42, 3.09), ('deconv', 256, 128, 1): (11.61, 5.55),
                 ('deconv', 128, 64, 2): (3.99, 3.43), ('deconv', 64, 1, 2): (1.24, 1.51)},
    # AMD EPYC (family 26, Zen 5), no AMX, TensorFlow 2.21: measured for issue 33
    'avx512_bf16': {('conv', 64, 128, 2): (2.94, 2.43), ('conv', 128, 256, 2): (5.30, 2.56),
                    ('deconv', 256, 128, 1): (8.22, 8.27), ('deconv', 128, 64, 2): (2.93, 2.46),
                    ('deconv', 64, 1, 2): (0.43, 0.59)},
}


def forward_weight_gradients(precision, weight_gradients='auto'):
    """model's forward_weight_gradient predicate for --precision and --weight_gradients: where
    the measured table of this CPU's bfloat16 unit says the forward form is faster; float32
    (and --weight_gradients=tensorflow) keeps TensorFlow's."""
    units = [unit for unit in BF16_CPU_FLAGS[::-1] if unit in cpu_flags()]  # AMX first
    if (precision != 'mixed' or weight_gradients == 'tensorflow' or not units
            or tf.config.list_physical_devices('GPU')):
        return model.tensorflows_weight_gradients
    measured = FORWARD_WEIGHT_GRADIENT_MS[units[0]]

    def faster_as_forward(kind, c_in, c_out, stride):
        tf_ms, forward_ms = measured.get((kind, c_in, c_out, stride), (0, 1))
        return forward_ms < tf_ms

    return faster_as_forward


def image_networks(cfg):
    """G and D of cfg.arch at the configured widths (for MNIST-sized images)."""
    chosen = forward_weight_gradients(cfg.precision, cfg.weight_gradients)
    return (model.generator(cfg.arch, cfg.z_dim, cfg.gf_dim, forward_weight_gradient=chosen),
            model.discriminator(cfg.arch, cfg.df_dim, cfg.critic_norm, cfg.minibatch_disc,
                                forward_weight_gradient=chosen))


def make_optimizer(cfg):
    if cfg.optimizer == 'rmsprop':
        return tf.keras.optimizers.RMSprop(cfg.lr, rho=cfg.rho, epsilon=cfg.rms_epsilon)
    return tf.keras.optimizers.Adam(cfg.lr, beta_1=cfg.beta1, beta_2=cfg.beta2)


def players(cfg, G, D):
    """G and D with an optimizer each, built now rather than lazily inside a trace (the
    alternating schedule traces the step twice)."""
    g_opt, d_opt = make_optimizer(cfg), make_optimizer(cfg)
    g_opt.build(G.trainable_weights)
    d_opt.build(D.trainable_weights)
    return Players(G, D, g_opt, d_opt)


def _cpuinfo_field(name):
    """The first `name: value` of /proc/cpuinfo ('' where there is none)."""
    try:
        with open('/proc/cpuinfo') as file:
            return next((line.split(':', 1)[1].strip() for line in file
                         if line.split(':', 1)[0].strip() == name), '')
    except OSError:
        return ''


def cpu_flags():
    return set(_cpuinfo_field('flags').split())


def cpu_name():
    """The CPU's model name and its family and model numbers, e.g. 'AMD EPYC (family 26, model
    2)': a virtual machine may name CPUs of different generations alike (with the same vector
    units, this project's step took 104 ms on family 26 and 188 ms on an earlier 'AMD EPYC')."""
    name = _cpuinfo_field('model name') or platform.processor()
    family, model = _cpuinfo_field('cpu family'), _cpuinfo_field('model')
    return f'{name} (family {family}, model {model})' if family and model else name


def cpu_line():
    """The CPU and which of VECTOR_FLAGS it has, e.g. 'AMD EPYC (family 26, model 2): avx2
    avx512f avx512_bf16':
    kept with every run and benchmark, since the same code runs at different speeds (and
    precisions) on CPUs with different vector units."""
    found = ' '.join(flag for flag in VECTOR_FLAGS if flag in cpu_flags())
    return f'{cpu_name()}: {found or "no AVX2"}'


def onednn_on():
    """Whether this process runs TensorFlow's oneDNN kernels (TF_ENABLE_ONEDNN_OPTS, or TensorFlow's
    own choice from the CPU): kept with every run, since their float32 sums round differently
    from TensorFlow's own kernels and the same run takes about half the time on an AVX2 CPU."""
    from tensorflow.python.util import _pywrap_util_port  # TensorFlow's only way to ask
    return bool(_pywrap_util_port.IsMklEnabled())


def set_precision(precision):
    """--precision: turn on TensorFlow's mixed-precision graph rewrite where the hardware has
    16-bit units, before anything is traced. Returns what the step computes in: 'float32',
    'bfloat16' (oneDNN, CPUs with AVX512_BF16 or AMX) or 'float16' (GPUs). The rewrite casts
    convolutions and matmuls (and the element-wise ops between them) to 16 bits; variables,
    optimizer updates and batch-norm statistics stay float32."""
    if precision == 'float32':
        return 'float32'
    if tf.config.list_physical_devices('GPU'):
        tf.config.optimizer.set_experimental_options({'auto_mixed_precision': True})
        return 'float16'
    if cpu_flags() & set(BF16_CPU_FLAGS):
        tf.config.optimizer.set_experimental_options({'auto_mixed_precision_onednn_bfloat16': True})
        return 'bfloat16'
    logging.warning('--precision=mixed: this CPU has neither AVX512_BF16 nor AMX and there is no '
                    'GPU; training in float32.')
    return 'float32'


def forward(G, D, real, z, noise):
    fake = G(z)
    (d_real, f_real), (d_fake, f_fake) = D(real), D(fake)
    return ForwardPass(real, fake, d_real, d_fake, f_real, f_fake, lambda x: D(x)[0], noise)


def total(terms):
    return tf.add_n(list(terms.values()))


def named(prefix, terms):
    """{prefix_term: value} for losses of several terms ({} for one: the total says it all)."""
    return {f'{prefix}_{name}': value for name, value in terms.items()} if len(terms) > 1 else {}


def log_columns(spec):
    """The columns a training step of `spec` reports in losses.csv (the keys `named` gives)."""
    return ['d_loss', 'g_loss', *named('d', dict.fromkeys(spec.d_terms)),
            *named('g', dict.fromkeys(spec.g_terms))]


def generator_gradient_norm(tape, loss, G):
    return tf.linalg.global_norm(tape.gradient(loss, G.trainable_weights))


def d_input_gradient_norm(tape, p):
    """The mean over generated samples of ||grad_x D(x)||, the signal the slides argue vanishes."""
    grad_x = tape.gradient(p.d_fake, p.fake)
    return tf.reduce_mean(tf.norm(tf.reshape(grad_x, [tf.shape(grad_x)[0], -1]), axis=1))


def gradient_probe(tape, p, g_loss, g_terms, G):
    """From one forward pass: the norm of the gradient of G's loss w.r.t. G's weights (and of
    each of its terms, where it has several) and the mean ||grad_x D|| at generated samples.
    `tape` must be persistent and have recorded the pass, the loss and its terms."""
    out = {'g_grad_norm': generator_gradient_norm(tape, g_loss, G)}
    if len(g_terms) > 1:
        out.update({f'g_grad_norm_{name}': generator_gradient_norm(tape, value, G)
                    for name, value in g_terms.items()})
    out['d_grad_x_norm'] = d_input_gradient_norm(tape, p)
    return out


def probe_columns(spec):
    return ['g_grad_norm', *(f'g_grad_norm_{t}' for t in spec.g_terms if len(spec.g_terms) > 1),
            'd_grad_x_norm']


def make_train_step(players_, noise, cfg):
    """The training step: a forward pass, then an update of D and/or G.

    `update_d` and `update_g` are Python booleans, so each combination is traced once. With
    both (the slides' joint schedule) G(z), D(x), D(G(z)) are computed once and each player's
    loss is differentiated with respect to its own weights only, as in the course project's
    code. The alternating schedule calls it with D alone, then with G alone.
    """
    G, D, g_opt, d_opt = players_
    spec = cfg.spec
    clipped = D.trainable_weights if cfg.clip_scope == 'all' else model.kernels_and_biases(D)

    @tf.function(jit_compile=cfg.xla)
    def train_step(real, update_d, update_g, probe=False):
        G.train()  # TL reads the mode while tracing: set it inside so every trace trains
        D.train()
        z = noise.normal([cfg.batch_size, cfg.z_dim])
        with tf.GradientTape(persistent=True) as tape:
            p = forward(G, D, real, z, noise)
            g_terms = spec.g_loss(p, cfg)  # V_G
            out = {'g_loss': total(g_terms), **named('g', g_terms)}
            if update_d:
                d_terms = spec.d_loss(p, cfg)  # V_D
                out.update({'d_loss': total(d_terms), **named('d', d_terms)})
        if probe:
            out.update(gradient_probe(tape, p, out['g_loss'], g_terms, G))
        if update_g:
            g_opt.apply_gradients(zip(tape.gradient(out['g_loss'], G.trainable_weights),
                                      G.trainable_weights))
        if update_d:
            d_opt.apply_gradients(zip(tape.gradient(out['d_loss'], D.trainable_weights),
                                      D.trainable_weights))
            if spec.clips_d:
                for w in clipped:
                    w.assign(tf.clip_by_value(w, -cfg.clip, cfg.clip))
        return out

    return train_step


WARMUP_G_UPDATES, WARMUP_EVERY, WARMUP_CRITIC_STEPS = 25, 500, 100


class CriticSchedule:
    """Which training steps (each one D update, counted from 1) end with a G update: every
    n_critic-th, or with `critic_warmup` after 100 D updates for the first 25 G updates and
    for every 500th (Arjovsky et al.'s reference code). A pure function of the step number, so
    a resumed run keeps the schedule."""

    def __init__(self, cfg):
        self.cfg, self.g_steps = cfg, []  # the step number of each G update so far

    def _critic_steps(self, g_update):
        warm = g_update < WARMUP_G_UPDATES or g_update % WARMUP_EVERY == 0
        return WARMUP_CRITIC_STEPS if self.cfg.critic_warmup and warm else self.cfg.n_critic

    def g_turn(self, step):
        if not self.cfg.critic_warmup:
            return step % self.cfg.n_critic == 0
        while not self.g_steps or self.g_steps[-1] < step:
            last = self.g_steps[-1] if self.g_steps else 0
            self.g_steps.append(last + self._critic_steps(len(self.g_steps)))
        return self.g_steps[bisect.bisect_left(self.g_steps, step)] == step


def take_step(train_step, cfg, schedule, real, step_number):
    """Training step `step_number` (counted from 1) under cfg.schedule and the critic schedule;
    every cfg.grad_every steps it also measures the gradient probe."""
    g_turn = schedule.g_turn(step_number)
    probe = bool(cfg.grad_every) and step_number % cfg.grad_every == 0
    if cfg.schedule == 'joint':
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
