"""Every command-line flag of the project: declaration, default, validation, run naming.

Bad values stop the program before anything is read or written, with one line on stderr
and exit code 2 (see `parse_or_exit`).
"""
import math
import os
import sys

from absl import flags

MODELS = ('lsgan', 'lsgan_reg')
LSGAN_FAMILY = ('lsgan', 'lsgan_reg')
DATASETS = ('mnist', 'fashion_mnist')

# Flags that define what a run computes. Resuming a run with any of them changed is refused;
# the others (epochs, max_steps, output directories, logging) may change between invocations.
RUN_DEFINING = ('model', 'a', 'b', 'c', 'lam', 'batch_size', 'lr', 'beta1', 'z_dim',
                'gf_dim', 'df_dim', 'sample_size', 'seed', 'dataset')

flags.DEFINE_enum('model', 'lsgan_reg', MODELS, 'Which GAN to train.')
flags.DEFINE_float('a', -1.0, 'LSGAN: the discriminator\'s target for generated images.')
flags.DEFINE_float('b', 1.0, 'LSGAN: the discriminator\'s target for real images.')
flags.DEFINE_float('c', 0.0, 'LSGAN: the value G wants D to output for generated images.')
flags.DEFINE_float('lam', 0.5, 'lsgan_reg: weight lambda of (E[D(G(z))] - E[D(x)])^2. 0.5 '
                   'matches the course project\'s code, which omitted the 1/2 of the LSGAN term.')
flags.DEFINE_integer('epochs', 20, 'Passes over the training images.')
flags.DEFINE_integer('batch_size', 64, 'Images per training step (last partial batch dropped).')
flags.DEFINE_float('lr', 1e-4, 'Learning rate of both players.')
flags.DEFINE_float('beta1', 0.5, 'Adam\'s first-moment decay.')
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
flags.DEFINE_integer('log_every', 50, 'Steps between two progress lines.')
flags.DEFINE_integer('keep_checkpoints', 3, 'How many recent checkpoints to keep.')

FLAGS = flags.FLAGS


def _positive(name):
    flags.register_validator(name, lambda v: v >= 1, message=f'--{name} must be at least 1')


for _name in ('epochs', 'batch_size', 'z_dim', 'gf_dim', 'df_dim', 'sample_size',
              'log_every', 'keep_checkpoints'):
    _positive(_name)
flags.register_validator('max_steps', lambda v: v >= 0, message='--max_steps must be >= 0')
flags.register_validator('lr', lambda v: v > 0 and math.isfinite(v),
                         message='--lr must be a positive number')
flags.register_validator('beta1', lambda v: 0 <= v < 1, message='--beta1 must be in [0, 1)')
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
        return FLAGS(argv)
    except flags.Error as error:
        fail(error)


def _number(x):
    return f'{x:g}'


def run_name(f=FLAGS):
    """The run's directory name, unique for each model and parameter set that names it."""
    if f.run_name:
        return f.run_name
    parts = [f.model]
    if f.model in LSGAN_FAMILY:
        parts += [f'a{_number(f.a)}', f'b{_number(f.b)}', f'c{_number(f.c)}']
    if f.model == 'lsgan_reg':
        parts.append(f'lam{_number(f.lam)}')
    if f.dataset != 'mnist':
        parts.append(f.dataset)
    parts.append(f'seed{f.seed}')
    return '_'.join(parts)


def run_definition(f=FLAGS):
    """The flag values that must match for a checkpoint to be resumed."""
    return {name: f[name].value for name in RUN_DEFINING}
