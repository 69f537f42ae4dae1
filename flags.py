"""Every command-line flag of the project: declaration, default, validation, run naming.

Bad values stop the program before anything is read or written, with one line on stderr
and exit code 2 (see `parse_or_exit`).
"""
import math
import os
import sys
import types

from absl import flags

MODELS = ('gan', 'improved_gan', 'wgan', 'wgan_gp', 'lsgan', 'lsgan_reg')
LSGAN_FAMILY = ('lsgan', 'lsgan_reg')
WGAN_FAMILY = ('wgan', 'wgan_gp')
DATASETS = ('mnist', 'fashion_mnist')
PROTOCOLS = ('slides', 'paper')


def protocol_defaults(protocol, model):
    """The settings a protocol gives a model; each is also a flag that overrides it.

    slides: what the course project's code did for its Figure 1. Every model updates G and D
      from one forward pass (schedule=joint), one critic update per generator update; WGAN
      uses RMSProp and clips all of D's weights; WGAN-GP adds the penalty with weight 1, one
      interpolation coefficient per batch, and keeps D's batch norm.
    paper: each method as its paper prescribes. Alternating updates (D, then G on a fresh z);
      WGAN and WGAN-GP take n_critic=5 critic steps, each on a fresh real batch; WGAN clips
      kernels and biases to 0.01 with RMSProp at 5e-5 (Arjovsky et al. 2017, Alg. 1); WGAN-GP
      uses weight 10, one coefficient per sample, no batch norm in the critic, Adam(1e-4, 0,
      0.9) (Gulrajani et al. 2017, Alg. 1).
    """
    paper = protocol == 'paper'
    return {
        'schedule': 'alternating' if paper else 'joint',
        'n_critic': 5 if paper and model in WGAN_FAMILY else 1,
        'optimizer': 'rmsprop' if model == 'wgan' else 'adam',
        'lr': 5e-5 if paper and model == 'wgan' else 1e-4,
        'beta1': 0.0 if paper and model == 'wgan_gp' else 0.5,
        'beta2': 0.9 if paper and model == 'wgan_gp' else 0.999,
        'clip': 0.01,
        'clip_scope': 'kernels_biases' if paper else 'all',
        'gp_lambda': 10.0 if paper else 1.0,
        'gp_epsilon': 'per_sample' if paper else 'per_batch',
        'critic_norm': 'none' if paper and model == 'wgan_gp' else 'batch',
    }


# The settings that matter for each model, printed at start (all are saved with the run).
SCHEME = ('schedule', 'n_critic', 'optimizer', 'lr', 'beta1', 'beta2', 'critic_norm')
MODEL_SETTINGS = {
    'gan': ('gan_loss',),
    'improved_gan': ('feature_matching', 'minibatch_disc', 'label_smoothing'),
    'wgan': ('clip', 'clip_scope'),
    'wgan_gp': ('gp_lambda', 'gp_epsilon'),
    'lsgan': ('a', 'b', 'c'),
    'lsgan_reg': ('a', 'b', 'c', 'lam'),
}

# Flags that define what a run computes. Resuming a run with any of them changed is refused;
# the others (epochs, max_steps, output directories, logging) may change between invocations.
RUN_DEFINING = ('model', 'protocol', 'a', 'b', 'c', 'lam', 'gan_loss', 'feature_matching',
                'minibatch_disc', 'label_smoothing', *protocol_defaults('slides', 'gan'),
                'batch_size', 'z_dim', 'gf_dim', 'df_dim', 'sample_size', 'seed', 'dataset')

flags.DEFINE_enum('mode', 'train', ('train', 'eval', 'generate', 'compare', 'gradcheck', 'toy'),
                  'train: train --model; eval: score the run\'s newest checkpoint; generate: '
                  'write --n samples of it to --out; compare: draw the comparison figures from '
                  'the runs the other flags name (one per model); gradcheck: the near-optimal '
                  'discriminator experiment (gradcheck.py); toy: the 2-D experiments (toy.py).')
flags.DEFINE_enum('model', 'lsgan_reg', MODELS, 'Which GAN to train.')
flags.DEFINE_enum('protocol', 'slides', PROTOCOLS, 'Sets the defaults of the training-scheme '
                  'flags below: "slides" as the course project ran its comparison, "paper" as '
                  'each method\'s paper prescribes (see README).')
flags.DEFINE_float('a', -1.0, 'LSGAN: the discriminator\'s target for generated images.')
flags.DEFINE_float('b', 1.0, 'LSGAN: the discriminator\'s target for real images.')
flags.DEFINE_float('c', 0.0, 'LSGAN: the value G wants D to output for generated images.')
flags.DEFINE_float('lam', 0.5, 'lsgan_reg: weight lambda of (E[D(G(z))] - E[D(x)])^2. 0.5 '
                   'matches the course project\'s code, which omitted the 1/2 of the LSGAN term.')
flags.DEFINE_enum('gan_loss', 'minimax', ('minimax', 'ns'), 'gan: the generator loss, '
                  'log(1 - D(G(z))) (minimax) or -log D(G(z)) (ns, non-saturating).')
flags.DEFINE_boolean('feature_matching', False, 'improved_gan: G matches the batch mean of D\'s '
                     'last hidden features instead of fooling D (Salimans et al. 2016).')
flags.DEFINE_boolean('minibatch_disc', False, 'improved_gan: a minibatch discrimination layer '
                     'before D\'s output (Salimans et al. 2016).')
flags.DEFINE_float('label_smoothing', 0.0, 'improved_gan: one-sided label smoothing, D\'s target '
                   'for real images is 1 - this (0.1 gives 0.9).')

# Training-scheme flags: None means "as --protocol says" (see protocol_defaults).
flags.DEFINE_enum('schedule', None, ('joint', 'alternating'), 'joint: G and D step from one '
                  'forward pass; alternating: D steps, then G steps on a fresh forward pass.')
flags.DEFINE_integer('n_critic', None, 'D updates per G update. Each D update takes a fresh '
                     'real batch, and an epoch is one pass of the real data through D updates, '
                     'so an epoch has steps_per_epoch / n_critic G updates.')
flags.DEFINE_enum('optimizer', None, ('adam', 'rmsprop'), 'Optimizer of both players.')
flags.DEFINE_float('lr', None, 'Learning rate of both players.')
flags.DEFINE_float('beta1', None, 'Adam\'s first-moment decay.')
flags.DEFINE_float('beta2', None, 'Adam\'s second-moment decay.')
flags.DEFINE_float('clip', None, 'wgan: D\'s weights are clipped to [-clip, clip] after each update.')
flags.DEFINE_enum('clip_scope', None, ('all', 'kernels_biases'), 'wgan: clip every trainable '
                  'weight of D, or only its kernels and biases (not batch-norm scales/offsets).')
flags.DEFINE_float('gp_lambda', None, 'wgan_gp: weight of the gradient penalty.')
flags.DEFINE_enum('gp_epsilon', None, ('per_sample', 'per_batch'), 'wgan_gp: one interpolation '
                  'coefficient per sample or one for the whole batch.')
flags.DEFINE_enum('critic_norm', None, ('batch', 'none'), 'Normalisation in D\'s hidden layers.')

flags.DEFINE_integer('epochs', 20, 'Passes over the training images.')
flags.DEFINE_integer('batch_size', 64, 'Images per training step (last partial batch dropped).')
flags.DEFINE_integer('z_dim', 100, 'Dimension of the generator\'s Gaussian input z.')
flags.DEFINE_integer('gf_dim', 64, 'Generator width: channels of the last hidden layer.')
flags.DEFINE_integer('df_dim', 64, 'Discriminator width: channels of the first conv layer.')
flags.DEFINE_integer('sample_size', 64, 'Images in each sample grid; a square (64 = 8x8).')
flags.DEFINE_integer('seed', 0, 'Seeds weights, data order, z and the fixed sample z.')
flags.DEFINE_enum('dataset', 'mnist', DATASETS, 'Training images.')
flags.DEFINE_string('data_dir', None, 'Directory with the dataset\'s IDX files (.gz or not) or '
                    'a Keras mnist.npz. Default: search the usual places (see README).')
flags.DEFINE_boolean('download', True, 'Try to download the dataset when no local copy exists.')
flags.DEFINE_string('sample_dir', 'samples', 'Sample grids go to <sample_dir>/<run>/.')
flags.DEFINE_string('checkpoint_dir', 'checkpoints', 'Checkpoints, flags and logs go to '
                    '<checkpoint_dir>/<run>/.')
flags.DEFINE_string('run_name', None, 'Name of the run directory. Default: derived from the '
                    'model and its parameters, e.g. lsgan_reg_a-1_b1_c0_lam0.5_seed0.')
flags.DEFINE_integer('max_steps', 0, 'Stop after this many training steps in all (0: no '
                     'limit), still writing that epoch\'s grid and checkpoint. For smoke runs.')
flags.DEFINE_boolean('xla', True, 'Compile the training step with XLA (jit_compile): about '
                     '1.5x faster on CPU; the first step then takes ~10 s to compile.')
flags.DEFINE_boolean('mixed_precision', False, 'GPUs only: float16 convolutions and matmuls by '
                     'TensorFlow\'s automatic mixed-precision graph rewrite (weights, losses and '
                     'reductions stay float32; no loss scaling). The rewrite does not reach XLA, so '
                     'the step then runs without it. Without a GPU: a warning, and float32.')
flags.DEFINE_integer('eval_every', 1, 'Compute the sample-quality metrics every this many '
                     'epochs (0: never).')
flags.DEFINE_integer('grad_every', 50, 'Every this many steps, log gradient norms (G\'s loss and '
                     'its parts, grad_x D at generated samples) to gradients.csv (0: never).')
flags.DEFINE_integer('eval_n', 5000, 'Generated samples the metrics are computed from.')
flags.DEFINE_integer('n', 10000, 'generate: how many samples.')
flags.DEFINE_string('out', 'samples.npz', 'generate: the .npz file written (uint8, key x).')
flags.DEFINE_string('out_dir', 'results', 'compare: where figures and tables go.')
flags.DEFINE_list('seeds', ['0'], 'compare: the seeds whose runs RESULTS.md and the metric '
                  'curves summarise; gradcheck and toy: the seeds each experiment is repeated with.')
flags.DEFINE_list('gradcheck_steps', ['0', '10', '100', '500'], 'gradcheck: after how many '
                  'discriminator steps (with G frozen) the generator gradients are measured.')
flags.DEFINE_enum('gradcheck_data', 'images', ('images', 'ring8', 'disjoint'), 'gradcheck: the '
                  'training images with the DCGAN, or a 2-D data set of toy.py with its MLPs.')
flags.DEFINE_list('gradcheck_lams', ['0.5', '5', '50'], 'gradcheck and toy: the lambdas of '
                  'lsgan_reg compared with lsgan.')
flags.DEFINE_enum('toy_data', 'ring8', ('ring8', 'disjoint'), 'toy: eight Gaussians on a ring '
                  '(Mao et al. 2017, sec. 4.3), or points on a segment far from where G starts.')
flags.DEFINE_integer('toy_steps', 5000, 'toy: training steps of each 2-D GAN.')
flags.DEFINE_integer('compare_epoch', 0, 'compare: the epoch of Figure 1 (0: --epochs).')
flags.DEFINE_list('figure2_epochs', ['1', '5', '10', '20'], 'compare: the epochs of Figure 2.')
flags.DEFINE_integer('log_every', 50, 'Steps between two progress lines.')
flags.DEFINE_integer('keep_checkpoints', 3, 'How many recent checkpoints to keep.')
flags.DEFINE_integer('checkpoint_every', 500, 'Also checkpoint every this many steps within an '
                     'epoch (0: only at epoch ends).')
flags.DEFINE_boolean('deterministic', False, 'Turn on TensorFlow\'s op determinism: the same '
                     'seed then gives bit-identical runs on the same machine and thread count.')

FLAGS = flags.FLAGS


def _positive(name):
    flags.register_validator(name, lambda v: v >= 1, message=f'--{name} must be at least 1')


def _non_negative_number(text):
    try:
        return math.isfinite(float(text)) and float(text) >= 0
    except ValueError:
        return False


for _name in ('epochs', 'batch_size', 'z_dim', 'gf_dim', 'df_dim', 'sample_size',
              'log_every', 'keep_checkpoints', 'eval_n', 'n', 'toy_steps'):
    _positive(_name)
flags.register_validator('seeds', lambda v: all(s.isdigit() for s in v),
                         message='--seeds must be a comma-separated list of integers')
flags.register_validator('gradcheck_steps', lambda v: all(k.isdigit() for k in v),
                         message='--gradcheck_steps must be a comma-separated list of integers >= 0')
flags.register_validator('gradcheck_lams', lambda v: all(_non_negative_number(x) for x in v),
                         message='--gradcheck_lams must be a comma-separated list of numbers >= 0')
flags.register_validator('figure2_epochs', lambda v: all(e.isdigit() and int(e) >= 1 for e in v),
                         message='--figure2_epochs must be a comma-separated list of epochs >= 1')
for _name in ('max_steps', 'checkpoint_every', 'compare_epoch', 'eval_every', 'grad_every'):
    flags.register_validator(_name, lambda v: v >= 0, message=f'--{_name} must be >= 0')
flags.register_validator('lr', lambda v: v is None or (v > 0 and math.isfinite(v)),
                         message='--lr must be a positive number')
for _name in ('beta1', 'beta2'):
    flags.register_validator(_name, lambda v: v is None or 0 <= v < 1,
                             message=f'--{_name} must be in [0, 1)')
flags.register_validator('n_critic', lambda v: v is None or v >= 1,
                         message='--n_critic must be at least 1')
for _name in ('clip', 'gp_lambda'):
    flags.register_validator(_name, lambda v: v is None or (v > 0 and math.isfinite(v)),
                             message=f'--{_name} must be a positive number')
flags.register_validator('label_smoothing', lambda v: 0 <= v < 1,
                         message='--label_smoothing must be in [0, 1)')
flags.register_validator('lam', lambda v: v >= 0 and math.isfinite(v),
                         message='--lam must be a non-negative number')
flags.register_validator('sample_size', lambda v: math.isqrt(v) ** 2 == v,
                         message='--sample_size must be a perfect square (e.g. 64 for 8x8)')
for _name in ('a', 'b', 'c'):
    flags.register_validator(_name, math.isfinite, message=f'--{_name} must be a finite number')


@flags.multi_flags_validator(['model', 'a', 'b'],
                             message='--a and --b must differ: D cannot tell real from fake')
def _distinct_targets(v):
    return v['model'] not in LSGAN_FAMILY or v['a'] != v['b']


@flags.multi_flags_validator(['model', 'feature_matching', 'minibatch_disc', 'label_smoothing'],
                             message='--feature_matching, --minibatch_disc and --label_smoothing '
                                     'apply to --model=improved_gan only')
def _improved_gan_options(v):
    return v['model'] == 'improved_gan' or not (
        v['feature_matching'] or v['minibatch_disc'] or v['label_smoothing'])


@flags.multi_flags_validator(['mode', 'grad_every'],
                             message='--mode=toy logs every --grad_every steps: give it a value >= 1')
def _toy_logs_gradients(v):
    return v['mode'] != 'toy' or v['grad_every'] >= 1


@flags.multi_flags_validator(['sample_dir', 'checkpoint_dir'],
                             message='--sample_dir and --checkpoint_dir must be writable')
def _writable_outputs(v):
    return all(_writable(v[name]) for name in ('sample_dir', 'checkpoint_dir'))


def _writable(path):
    """Whether `path` exists as a writable directory or could be created."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def fail(message):
    """The project's way out for bad input: one line on stderr, exit code 2."""
    sys.stderr.write(f'{os.path.basename(sys.argv[0])}: error: {message}\n')
    sys.exit(2)


def parse_or_exit(argv):
    """absl `flags_parser`: parse argv, or fail on any bad flag."""
    try:
        argv = FLAGS(argv)
    except flags.Error as error:
        fail(error)
    for name, value in protocol_defaults(FLAGS.protocol, FLAGS.model).items():
        if FLAGS[name].value is None:
            FLAGS[name].value = value
    return argv


def settings(f=FLAGS):
    """The resolved training settings that matter for --model, for the start-up log."""
    names = ('protocol', *SCHEME, *MODEL_SETTINGS[f.model])
    adam_only = ('beta1', 'beta2') if f.optimizer != 'adam' else ()
    return {name: f[name].value for name in names if name not in adam_only}


def _number(x):
    return f'{x:g}'


def run_name(f=FLAGS, model=None):
    """The run's directory name, unique for each model and parameter set that names it.

    `model` names the run that these flags would give another model (for --mode=compare).
    """
    if f.run_name and model is None:
        return f.run_name
    model = model or f.model
    parts = [model]
    if model in LSGAN_FAMILY:
        parts += [f'a{_number(f.a)}', f'b{_number(f.b)}', f'c{_number(f.c)}']
    if model == 'lsgan_reg':
        parts.append(f'lam{_number(f.lam)}')
    if model == 'gan':
        parts.append(f.gan_loss)
    if f.feature_matching:
        parts.append('fm')
    if f.minibatch_disc:
        parts.append('mbd')
    if f.label_smoothing:
        parts.append(f'ls{_number(f.label_smoothing)}')
    if f.protocol != 'slides':
        parts.append(f.protocol)
    if f.dataset != 'mnist':
        parts.append(f.dataset)
    parts.append(f'seed{f.seed}')
    return '_'.join(parts)


def variant(f=FLAGS, **overrides):
    """The flag values of `f` with some replaced, as a namespace (the flags stay untouched)."""
    return types.SimpleNamespace(**{**f.flag_values_dict(), **overrides})


def for_model(f, model, **overrides):
    """The settings `model` gets under f's protocol (its protocol_defaults, not f's scheme
    flags, which were resolved for --model), with `overrides`."""
    return variant(f, **{**protocol_defaults(f.protocol, model), 'model': model, **overrides})


def run_definition(f=FLAGS):
    """The flag values that must match for a checkpoint to be resumed."""
    return {name: f[name].value for name in RUN_DEFINING}
