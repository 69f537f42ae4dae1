"""The run configuration: one frozen, typed record built once (from the flags, or directly in
tests), with the protocol's settings resolved. Everything below main.py takes a Config.
"""
import dataclasses
from dataclasses import dataclass
from typing import Optional

import registry

ARCHS = ('dcgan', 'infogan')
DATASETS = ('mnist', 'fashion_mnist')
PRECISIONS = ('float32', 'mixed')
# auto: under --precision=mixed, each layer's weight gradient where it measured faster
# (gan_step.FORWARD_WEIGHT_GRADIENT_MS); tensorflow: TensorFlow's everywhere (the A/B).
WEIGHT_GRADIENTS = ('auto', 'tensorflow')
# XLA where it measured faster on 2 CPU cores (results/benchmark.md): the dcgan step is ~4x
# slower compiled (its 5x5 convolutions lose oneDNN's kernels), infogan's dense step ~1.1x faster.
XLA_BY_ARCH = {'dcgan': False, 'infogan': True}


@dataclass(frozen=True)
class Config:
    mode: str = 'train'
    model: str = 'lsgan_reg'
    protocol: str = 'slides'
    arch: str = 'dcgan'
    # Model settings (registry.MODELS[model].settings says which matter).
    a: float = -1.0
    b: float = 1.0
    c: float = 0.0
    lam: float = 0.5
    gan_loss: str = 'minimax'
    feature_matching: bool = False
    minibatch_disc: bool = False
    label_smoothing: float = 0.0
    # Training scheme: None = what the protocol gives the model (registry.scheme).
    schedule: Optional[str] = None
    n_critic: Optional[int] = None
    critic_warmup: Optional[bool] = None
    optimizer: Optional[str] = None
    lr: Optional[float] = None
    beta1: Optional[float] = None
    beta2: Optional[float] = None
    rho: Optional[float] = None
    rms_epsilon: Optional[float] = None
    clip: Optional[float] = None
    clip_scope: Optional[str] = None
    gp_lambda: Optional[float] = None
    gp_epsilon: Optional[str] = None
    critic_norm: Optional[str] = None
    # Data and networks.
    epochs: int = 20
    batch_size: int = 64
    z_dim: int = 100
    gf_dim: int = 64
    df_dim: int = 64
    sample_size: int = 64
    seed: int = 0
    dataset: str = 'mnist'
    data_dir: Optional[str] = None
    download: bool = True
    train_size: int = 0  # 0: all training images
    # Where and how.
    sample_dir: str = 'samples'
    checkpoint_dir: str = 'checkpoints'
    run_name: Optional[str] = None
    max_steps: int = 0
    xla: Optional[bool] = None  # None: XLA_BY_ARCH
    precision: str = 'float32'
    weight_gradients: str = 'auto'
    eval_every: int = 1
    grad_every: int = 50
    eval_n: int = 5000
    keep_samples_at: tuple = (1, 2, 3, 5)  # epochs whose 1,000 evaluation samples are kept
    log_every: int = 50
    keep_checkpoints: int = 3
    checkpoint_every: int = 500
    deterministic: bool = False
    threads: int = 0  # 0: TensorFlow's default, every core this process may run on
    # Other modes.
    n: int = 10000
    out: str = 'samples.npz'
    out_dir: str = 'results'
    seeds: tuple = (0,)
    classifier_seeds: tuple = (0, 1, 2)
    gradcheck_steps: tuple = (0, 10, 100, 500)
    gradcheck_data: str = 'images'
    gradcheck_lams: tuple = (0.5, 5.0, 50.0)
    gradcheck_discriminators: tuple = ('gan', 'wgan', 'wgan_gp', 'lsgan')
    toy_data: str = 'ring8'
    toy_steps: int = 5000
    compare_epoch: int = 0
    figure2_epochs: tuple = (1, 5, 10, 20)

    def __post_init__(self):
        """Fill what was left to the protocol and the architecture."""
        for name, value in registry.scheme(self.protocol, self.model).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.xla is None:
            object.__setattr__(self, 'xla', XLA_BY_ARCH[self.arch])

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def under(self, protocol, model):
        """This config for `model` under `protocol`'s own scheme, as `--model --protocol` would
        give it: every training-scheme setting back to what the protocol gives that model."""
        return dataclasses.replace(self, protocol=protocol, model=model,
                                   **dict.fromkeys(registry.SCHEME[protocol]))

    def for_model(self, model, **overrides):
        """The config `model` gets under this protocol: its own scheme (not the one resolved
        for self.model), except the settings this config changed from that scheme (flags a user
        gave, such as --critic_norm=none), then `overrides`."""
        own = registry.scheme(self.protocol, self.model)
        changed = {name: getattr(self, name) for name in own if getattr(self, name) != own[name]}
        return self.under(self.protocol, model).replace(**{**changed, **overrides})

    @property
    def spec(self):
        return registry.MODELS[self.model]


# Fields that define what a run computes. Resuming a run with any of them changed is refused;
# the others (epochs, max_steps, directories, logging, speed) may change between invocations.
RUN_DEFINING = ('model', 'protocol', 'arch', 'a', 'b', 'c', 'lam', 'gan_loss',
                'feature_matching', 'minibatch_disc', 'label_smoothing',
                *registry.SCHEME['slides'], 'batch_size', 'z_dim', 'gf_dim', 'df_dim',
                'sample_size', 'seed', 'dataset', 'train_size', 'precision')


def run_definition(cfg):
    return {name: getattr(cfg, name) for name in RUN_DEFINING}


def scheme_overrides(cfg):
    """Name parts for the training-scheme settings that act on the model and differ from what
    the protocol gives it, e.g. ['lr0.001', 'critic_norm-none'] (numbers attached, words after
    a dash)."""
    protocol_gives = registry.scheme(cfg.protocol, cfg.model)
    acting = registry.relevant_scheme(cfg.model, cfg.optimizer)
    return [f'{name}{value:g}' if isinstance(value, (int, float)) and not isinstance(value, bool)
            else f'{name}-{value}'
            for name, value in ((n, getattr(cfg, n)) for n in protocol_gives)
            if name in acting and value != protocol_gives[name]]


def run_name(cfg, model=None):
    """The run's directory name, unique for each model and parameter set that names it, e.g.
    lsgan_reg_a-1_b1_c0_lam0.5_seed0. Settings at their default are left out. `model` names
    the run that this config would give another model (for --mode=compare)."""
    if cfg.run_name and model is None:
        return cfg.run_name
    if model:
        cfg = cfg.for_model(model)
    defaults = Config()
    parts = [cfg.model, *registry.name_parts(cfg.spec, cfg)]
    if cfg.protocol != defaults.protocol:
        parts.append(cfg.protocol)
    parts += scheme_overrides(cfg)
    if cfg.arch != defaults.arch:
        parts.append(cfg.arch)
    if cfg.dataset != defaults.dataset:
        parts.append(cfg.dataset)
    if cfg.train_size:
        parts.append(f'n{cfg.train_size}')
    if cfg.precision != defaults.precision:
        parts.append(cfg.precision)
    parts.append(f'seed{cfg.seed}')
    return '_'.join(parts)
