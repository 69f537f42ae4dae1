"""The models of the study, one record each: their losses as named terms, D's constraint, the
settings that define them, and what each protocol sets for them.

Adding a model means adding its losses to losses.py and one `ModelSpec` to `MODELS` here;
training, logging, run names, figures, tables and tests read everything from this file.
"""
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import tensorflow as tf

import losses

PROTOCOLS = ('slides', 'paper')


class ForwardPass(NamedTuple):
    """One forward pass of a training step, what every loss is a function of."""
    real: tf.Tensor
    fake: tf.Tensor
    d_real: tf.Tensor  # D(x), (batch, 1)
    d_fake: tf.Tensor  # D(G(z)), (batch, 1)
    f_real: tf.Tensor  # D's features of x (feature matching)
    f_fake: tf.Tensor
    critic: Callable  # images -> D's scores (for the gradient penalty)
    noise: tf.random.Generator  # the run's generator (the penalty's interpolation points)


# The training scheme each protocol gives every model, before a record's own overrides.
# slides: as the course project's code ran its Figure 1: G and D step from one forward pass,
#   one critic update per generator update, Adam(1e-4, 0.5).
# paper: alternating updates (D, then G on a fresh z), Adam(1e-4, 0.5) unless the method's
#   paper prescribes otherwise (see the records).
_SLIDES = dict(schedule='joint', n_critic=1, critic_warmup=False, optimizer='adam', lr=1e-4,
               beta1=0.5, beta2=0.999, rho=0.9, rms_epsilon=1e-7, clip=0.01, clip_scope='all',
               gp_lambda=1.0, gp_epsilon='per_sample', critic_norm='batch')
SCHEME = {'slides': _SLIDES, 'paper': {**_SLIDES, 'schedule': 'alternating', 'gp_lambda': 10.0}}
OPTIMIZER_SETTINGS = {'adam': ('beta1', 'beta2'), 'rmsprop': ('rho', 'rms_epsilon')}


@dataclass(frozen=True)
class ModelSpec:
    """One model. `d_loss` and `g_loss` map (ForwardPass, config) to a dict of named terms
    whose sum is the player's loss; `d_terms` / `g_terms` name them in the logs."""
    label: str  # for figures and tables
    d_loss: Callable
    g_loss: Callable
    d_terms: tuple
    g_terms: tuple
    clips_d: bool = False  # clip D's weights to [-clip, clip] after each update (WGAN)
    settings: tuple = ()  # config fields that define the model (printed, part of the run name)
    protocols: dict = field(default_factory=dict)  # protocol -> overrides of SCHEME
    scheme_settings: tuple = ()  # scheme fields that matter for it beyond the common ones


def _run_name_setting(name, value):
    if isinstance(value, bool):
        return {'feature_matching': 'fm', 'minibatch_disc': 'mbd'}[name] if value else None
    if name == 'gan_loss':
        return value
    if name == 'label_smoothing':
        return f'ls{value:g}' if value else None
    return f'{name}{value:g}'


def name_parts(spec, cfg):
    """The parts of a run's name that its model's settings give, e.g. ['a-1', 'b1', 'c0']."""
    parts = (_run_name_setting(name, getattr(cfg, name)) for name in spec.settings)
    return [part for part in parts if part]


# --- the losses of each model, as named terms ------------------------------------------------

def _gan_d(p, cfg):
    return {'cross_entropy': losses.gan_discriminator_loss(p.d_real, p.d_fake,
                                                           1.0 - cfg.label_smoothing)}


def _gan_g(p, cfg):
    loss = {'minimax': losses.gan_minimax_generator_loss,
            'ns': losses.gan_nonsaturating_generator_loss}[cfg.gan_loss]
    return {'gan': loss(p.d_fake)}


def _improved_gan_g(p, cfg):
    if cfg.feature_matching:
        return {'gan': losses.feature_matching_loss(p.f_real, p.f_fake)}
    return {'gan': losses.gan_nonsaturating_generator_loss(p.d_fake)}


def _wasserstein_d(p, cfg):
    return {'wasserstein': losses.wasserstein_critic_loss(p.d_real, p.d_fake)}


def _wasserstein_gp_d(p, cfg):
    # One interpolation coefficient per sample, or one for the batch; it broadcasts over the
    # other axes of the data (images, or the toy's 2-D points).
    n = tf.shape(p.real)[0] if cfg.gp_epsilon == 'per_sample' else 1
    epsilon = p.noise.uniform(tf.stack([n] + [1] * (p.real.shape.rank - 1)))
    return {**_wasserstein_d(p, cfg),
            'gp': cfg.gp_lambda * losses.gradient_penalty(p.critic, p.real, p.fake, epsilon)}


def _wasserstein_g(p, cfg):
    return {'wasserstein': losses.wasserstein_generator_loss(p.d_fake)}


def _lsgan_d(p, cfg):
    return {'lsgan': losses.lsgan_discriminator_loss(p.d_real, p.d_fake, a=cfg.a, b=cfg.b)}


def _lsgan_g(p, cfg):
    return {'lsgan': losses.lsgan_generator_loss(p.d_fake, cfg.c)}


def _lsgan_reg_g(p, cfg):
    return {**_lsgan_g(p, cfg), 'reg': cfg.lam * losses.mean_matching_penalty(p.d_real, p.d_fake)}


def _ralsgan_d(p, cfg):
    return {'ralsgan': losses.ralsgan_discriminator_loss(p.d_real, p.d_fake)}


def _ralsgan_g(p, cfg):
    return {'ralsgan': losses.ralsgan_generator_loss(p.d_real, p.d_fake)}


MODELS = {
    'gan': ModelSpec(
        'Vanilla GAN', _gan_d, _gan_g, ('cross_entropy',), ('gan',), settings=('gan_loss',)),
    'improved_gan': ModelSpec(
        'Improved GAN', _gan_d, _improved_gan_g, ('cross_entropy',), ('gan',),
        settings=('feature_matching', 'minibatch_disc', 'label_smoothing')),
    # Arjovsky et al., "Wasserstein GAN", 2017, Alg. 1 and their reference code: RMSProp at
    # 5e-5 (decay 0.99, eps 1e-8), every critic weight clipped (batch norm's too), 5 critic
    # steps per G step, and 100 for the first 25 G steps and every 500th.
    'wgan': ModelSpec(
        'WGAN', _wasserstein_d, _wasserstein_g, ('wasserstein',), ('wasserstein',), clips_d=True,
        protocols={'slides': dict(optimizer='rmsprop'),
                   'paper': dict(optimizer='rmsprop', lr=5e-5, rho=0.99, rms_epsilon=1e-8,
                                 n_critic=5, critic_warmup=True)},
        scheme_settings=('clip', 'clip_scope', 'critic_warmup')),
    # Gulrajani et al., "Improved Training of Wasserstein GANs", 2017, Alg. 1: weight 10, one
    # coefficient per sample, no batch norm in the critic, Adam(1e-4, 0, 0.9), 5 critic steps.
    # The course code: weight 1 and batch norm kept, one coefficient per sample.
    'wgan_gp': ModelSpec(
        'WGAN-GP', _wasserstein_gp_d, _wasserstein_g, ('wasserstein', 'gp'), ('wasserstein',),
        protocols={'paper': dict(n_critic=5, beta1=0.0, beta2=0.9, critic_norm='none')},
        scheme_settings=('gp_lambda', 'gp_epsilon')),
    'lsgan': ModelSpec(
        'LSGAN', _lsgan_d, _lsgan_g, ('lsgan',), ('lsgan',), settings=('a', 'b', 'c')),
    'lsgan_reg': ModelSpec(
        'LSGAN + regularizer', _lsgan_d, _lsgan_reg_g, ('lsgan',), ('lsgan', 'reg'),
        settings=('a', 'b', 'c', 'lam')),
    # Jolicoeur-Martineau 2019, the closest published relative of the slides' regularizer
    # (both compare E D(G(z)) with E D(x)). The paper's "DCGAN setup", as its code runs it
    # (AlexiaJM/RelativisticGAN, code/stable.sh): Adam(2e-4, 0.5, 0.999) for both players,
    # one D step per G step.
    'ralsgan': ModelSpec(
        'RaLSGAN', _ralsgan_d, _ralsgan_g, ('ralsgan',), ('ralsgan',),
        protocols={'paper': dict(lr=2e-4)}),
}


def scheme(protocol, model):
    """The training-scheme settings `protocol` gives `model` (each is also a flag)."""
    return {**SCHEME[protocol], **MODELS[model].protocols.get(protocol, {})}


def shown_settings(cfg):
    """The resolved settings that matter for cfg.model, for the start-up log."""
    names = ('protocol', *relevant_scheme(cfg.model, cfg.optimizer), *MODELS[cfg.model].settings)
    return {name: getattr(cfg, name) for name in names}


def relevant_scheme(model, optimizer):
    """The scheme settings that act on `model` with `optimizer`."""
    return ('schedule', 'n_critic', 'optimizer', 'lr', *OPTIMIZER_SETTINGS[optimizer],
            'critic_norm', *MODELS[model].scheme_settings)


def protocol_table():
    """The README's protocol table: every model's scheme under each protocol, blank where a
    setting does not act on the model (tested equal to the README's)."""
    names = list(SCHEME['slides'])
    lines = ['| model | protocol | ' + ' | '.join(names) + ' |',
             '| --- | --- |' + ' --- |' * len(names)]
    for model in MODELS:
        for protocol in PROTOCOLS:
            values = scheme(protocol, model)
            acting = relevant_scheme(model, values['optimizer'])
            cells = [(f'{values[n]:g}' if isinstance(values[n], float) else str(values[n]))
                     if n in acting else '' for n in names]
            lines.append(f'| {model} | {protocol} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
