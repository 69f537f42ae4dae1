"""Every command-line flag: declaration (defaults from config.Config), validation, and the one
Config built from them.

Bad values stop the program before anything is read or written, with one line on stderr
and exit code 2 (utils.fail).
"""
import math
import os

from absl import flags

import config
import registry
import utils

D = config.Config()  # the defaults

flags.DEFINE_enum('mode', D.mode, ('train', 'eval', 'generate', 'rescore', 'compare', 'gradcheck',
                                   'toy', 'mechanism'),
                  'train: train --model; eval: score the run\'s newest checkpoint; generate: '
                  'write --n samples of it to --out; rescore: score the final_1000.npz of every '
                  'run under --sample_dir with each of --classifier_seeds into '
                  '<sample_dir>/final_scores.csv; compare: draw the comparison figures from '
                  'the runs the other flags name (one per model); gradcheck: the near-optimal '
                  'discriminator experiment (studies/gradcheck.py); toy: the 2-D experiments (studies/toy.py); '
                  'mechanism: the table and figure of the mechanism arms (studies/mechanism.py).')
flags.DEFINE_enum('model', D.model, tuple(registry.MODELS), 'Which GAN to train.')
flags.DEFINE_enum('protocol', D.protocol, registry.PROTOCOLS, 'Sets the defaults of the '
                  'training-scheme flags below: "slides" as the course project ran its '
                  'comparison, "paper" as each method\'s paper prescribes (see README).')
flags.DEFINE_enum('arch', D.arch, config.ARCHS, 'Network: dcgan (the course project\'s) or '
                  'infogan (Dense-1024 layers; see model.py).')
flags.DEFINE_float('a', D.a, 'LSGAN: the discriminator\'s target for generated images.')
flags.DEFINE_float('b', D.b, 'LSGAN: the discriminator\'s target for real images.')
flags.DEFINE_float('c', D.c, 'LSGAN: the value G wants D to output for generated images.')
flags.DEFINE_float('lam', D.lam, 'lsgan_reg: weight lambda of (E[D(G(z))] - E[D(x)])^2. 0.5 '
                   'matches the course project\'s code, which omitted the 1/2 of the LSGAN term.')
flags.DEFINE_enum('gan_loss', D.gan_loss, ('minimax', 'ns'), 'gan: the generator loss, '
                  'log(1 - D(G(z))) (minimax) or -log D(G(z)) (ns, non-saturating).')
flags.DEFINE_boolean('feature_matching', D.feature_matching, 'improved_gan: G matches the batch '
                     'mean of D\'s features instead of fooling D (Salimans et al. 2016).')
flags.DEFINE_boolean('minibatch_disc', D.minibatch_disc, 'improved_gan: a minibatch '
                     'discrimination layer before D\'s output (Salimans et al. 2016).')
flags.DEFINE_float('label_smoothing', D.label_smoothing, 'improved_gan: one-sided label '
                   'smoothing, D\'s target for real images is 1 - this (0.1 gives 0.9).')

# Training-scheme flags: unset means "as --protocol says" (registry.scheme).
flags.DEFINE_enum('schedule', None, ('joint', 'alternating'), 'joint: G and D step from one '
                  'forward pass; alternating: D steps, then G steps on a fresh forward pass.')
flags.DEFINE_integer('n_critic', None, 'D updates per G update. Each D update takes a fresh '
                     'real batch, and an epoch is one pass of the real data through D updates, '
                     'so an epoch has steps_per_epoch / n_critic G updates.')
flags.DEFINE_boolean('critic_warmup', None, '100 D updates per G update for the first 25 G '
                     'updates and every 500th (Arjovsky et al.\'s reference code).')
flags.DEFINE_enum('optimizer', None, ('adam', 'rmsprop'), 'Optimizer of both players.')
flags.DEFINE_float('lr', None, 'Learning rate of both players.')
flags.DEFINE_float('beta1', None, 'Adam\'s first-moment decay.')
flags.DEFINE_float('beta2', None, 'Adam\'s second-moment decay.')
flags.DEFINE_float('rho', None, 'RMSProp\'s decay.')
flags.DEFINE_float('rms_epsilon', None, 'RMSProp\'s epsilon.')
flags.DEFINE_float('clip', None, 'wgan: D\'s weights are clipped to [-clip, clip] after each update.')
flags.DEFINE_enum('clip_scope', None, ('all', 'kernels_biases'), 'wgan: clip every trainable '
                  'weight of D, or only its kernels and biases (not batch-norm scales/offsets).')
flags.DEFINE_float('gp_lambda', None, 'wgan_gp: weight of the gradient penalty.')
flags.DEFINE_enum('gp_epsilon', None, ('per_sample', 'per_batch'), 'wgan_gp: one interpolation '
                  'coefficient per sample or one for the whole batch.')
flags.DEFINE_enum('critic_norm', None, ('batch', 'none'), 'Normalisation in D\'s hidden layers.')

flags.DEFINE_integer('epochs', D.epochs, 'Passes over the training images.')
flags.DEFINE_integer('batch_size', D.batch_size, 'Images per training step (last partial batch '
                     'dropped).')
flags.DEFINE_integer('z_dim', D.z_dim, 'Dimension of the generator\'s Gaussian input z.')
flags.DEFINE_integer('gf_dim', D.gf_dim, 'Generator width (see model.py).')
flags.DEFINE_integer('df_dim', D.df_dim, 'Discriminator width: channels of the first conv layer.')
flags.DEFINE_integer('sample_size', D.sample_size, 'Images in each sample grid; a square (64 = 8x8).')
flags.DEFINE_integer('seed', D.seed, 'Seeds weights, data order, z and the fixed sample z.')
flags.DEFINE_enum('dataset', D.dataset, config.DATASETS, 'Training images.')
flags.DEFINE_string('data_dir', D.data_dir, 'Directory with the dataset\'s IDX files (.gz or '
                    'not) or a Keras mnist.npz. Default: the embedded MNIST (see README).')
flags.DEFINE_boolean('download', D.download, 'Try to download the dataset when no local copy '
                     'exists.')
flags.DEFINE_integer('train_size', D.train_size, 'Train on the first N training images of one '
                     'fixed class-balanced order (the same for every seed); 0: all of them.')
flags.DEFINE_string('sample_dir', D.sample_dir, 'Sample grids go to <sample_dir>/<run>/.')
flags.DEFINE_string('checkpoint_dir', D.checkpoint_dir, 'Checkpoints, the run record and logs '
                    'go to <checkpoint_dir>/<run>/.')
flags.DEFINE_string('run_name', D.run_name, 'Name of the run directory. Default: derived from '
                    'the model and its parameters, e.g. lsgan_reg_a-1_b1_c0_lam0.5_seed0.')
flags.DEFINE_integer('max_steps', D.max_steps, 'Stop after this many training steps in all (0: '
                     'no limit), still writing that epoch\'s grid and checkpoint. For smoke runs.')
flags.DEFINE_boolean('xla', None, 'Compile the training step with XLA. Default: on for '
                     '--arch=infogan, off for dcgan (where XLA is ~4x slower on CPU).')
flags.DEFINE_enum('precision', D.precision, config.PRECISIONS, 'mixed: convolutions and matmuls '
                  'in bfloat16 on a CPU with AVX512_BF16 or AMX, float16 on a GPU; weights, '
                  'optimizer state, batch-norm statistics and losses stay float32. Elsewhere: a '
                  'warning, and float32.')
flags.DEFINE_enum('weight_gradients', D.weight_gradients, config.WEIGHT_GRADIENTS, 'With '
                  '--precision=mixed, auto: each convolution\'s weight gradient as a forward '
                  'convolution where that measured faster on this CPU\'s bfloat16 unit; '
                  'tensorflow: TensorFlow\'s own everywhere. The same sums: speed only.')
flags.DEFINE_integer('eval_every', D.eval_every, 'Compute the sample-quality metrics every this '
                     'many epochs (0: never).')
flags.DEFINE_integer('grad_every', D.grad_every, 'Every this many steps, log gradient norms (G\'s '
                     'loss and its terms, grad_x D at generated samples) to gradients.csv (0: never).')
flags.DEFINE_integer('eval_n', D.eval_n, 'Generated samples the metrics are computed from.')
flags.DEFINE_list('keep_samples_at', [str(e) for e in D.keep_samples_at], 'Epochs whose 1,000 '
                  'samples of the fixed evaluation z are kept as <sample_dir>/<run>/'
                  'samples_1000_epoch_NNN.npz (uint8, key x), beside final_1000.npz; empty: none.')
flags.DEFINE_integer('log_every', D.log_every, 'Steps between two progress lines.')
flags.DEFINE_integer('keep_checkpoints', D.keep_checkpoints, 'How many recent checkpoints to keep.')
flags.DEFINE_integer('checkpoint_every', D.checkpoint_every, 'Also checkpoint every this many '
                     'steps within an epoch (0: only at epoch ends).')
flags.DEFINE_boolean('deterministic', D.deterministic, 'Turn on TensorFlow\'s op determinism: the '
                     'same seed then gives bit-identical runs on the same machine and thread count.')
flags.DEFINE_integer('threads', D.threads, 'CPU threads of each TensorFlow op and between ops '
                     '(0: every core this process may run on). Runs sharing a machine should split '
                     'its cores, e.g. --threads=2 for each of 4 runs on 8 cores.')
flags.DEFINE_integer('n', D.n, 'generate: how many samples.')
flags.DEFINE_string('out', D.out, 'generate: the .npz file written (uint8, key x).')
flags.DEFINE_string('out_dir', D.out_dir, 'compare, gradcheck, toy: where figures and tables go.')
flags.DEFINE_list('seeds', [str(s) for s in D.seeds], 'compare: the seeds whose runs RESULTS.md '
                  'and the metric curves summarise; gradcheck and toy: the seeds each experiment '
                  'is repeated with.')
flags.DEFINE_list('classifier_seeds', [str(s) for s in D.classifier_seeds], 'rescore: the '
                  'digit classifiers, by seed (0: data/classifier.npz, the one behind every metric; 1 '
                  'and 2 ship as data/classifier_seed<k>.npz; others are trained once and cached '
                  'under --checkpoint_dir).')
flags.DEFINE_list('gradcheck_steps', [str(k) for k in D.gradcheck_steps], 'gradcheck: after how '
                  'many discriminator steps (with G frozen) the generator gradients are measured.')
flags.DEFINE_enum('gradcheck_data', D.gradcheck_data, ('images', 'ring8', 'disjoint'),
                  'gradcheck: the training images with the image networks, or a 2-D data set of '
                  'studies/toy.py with its MLPs.')
flags.DEFINE_list('gradcheck_lams', [f'{x:g}' for x in D.gradcheck_lams], 'gradcheck and toy: '
                  'the lambdas of lsgan_reg compared with lsgan.')
flags.DEFINE_list('gradcheck_discriminators', list(D.gradcheck_discriminators), 'gradcheck: the '
                  'kinds of D trained against the frozen G (each measures its own G losses).')
flags.DEFINE_enum('toy_data', D.toy_data, ('ring8', 'disjoint'), 'toy: eight Gaussians on a ring '
                  '(Mao et al. 2017, sec. 4.3), or points on a segment far from where G starts.')
flags.DEFINE_integer('toy_steps', D.toy_steps, 'toy: training steps of each 2-D GAN.')
flags.DEFINE_integer('compare_epoch', D.compare_epoch, 'compare: the epoch of Figure 1 (0: --epochs).')
flags.DEFINE_list('figure2_epochs', [str(e) for e in D.figure2_epochs], 'compare: the epochs of '
                  'Figure 2.')

FLAGS = flags.FLAGS


def _non_negative_number(text):
    try:
        return math.isfinite(float(text)) and float(text) >= 0
    except ValueError:
        return False


for _name in ('epochs', 'batch_size', 'z_dim', 'gf_dim', 'df_dim', 'sample_size',
              'log_every', 'keep_checkpoints', 'eval_n', 'n', 'toy_steps'):
    flags.register_validator(_name, lambda v: v >= 1, message=f'--{_name} must be at least 1')
for _name in ('seeds', 'classifier_seeds'):
    flags.register_validator(_name, lambda v: v and all(s.isdigit() for s in v),
                             message=f'--{_name} must be a comma-separated list of integers')
flags.register_validator('gradcheck_steps', lambda v: all(k.isdigit() for k in v),
                         message='--gradcheck_steps must be a comma-separated list of integers >= 0')
flags.register_validator('gradcheck_discriminators',
                         lambda v: v and set(v) <= set(config.Config.gradcheck_discriminators),
                         message='--gradcheck_discriminators must be a comma-separated list of: '
                                 + ', '.join(config.Config.gradcheck_discriminators))
flags.register_validator('gradcheck_lams', lambda v: all(_non_negative_number(x) for x in v),
                         message='--gradcheck_lams must be a comma-separated list of numbers >= 0')
for _name in ('keep_samples_at', 'figure2_epochs'):
    flags.register_validator(_name, lambda v: all(e.isdigit() and int(e) >= 1 for e in v),
                             message=f'--{_name} must be a comma-separated list of epochs >= 1')
for _name in ('max_steps', 'checkpoint_every', 'compare_epoch', 'eval_every', 'grad_every',
              'train_size', 'threads'):
    flags.register_validator(_name, lambda v: v >= 0, message=f'--{_name} must be >= 0')
for _name in ('lr', 'clip', 'gp_lambda', 'rms_epsilon'):
    flags.register_validator(_name, lambda v: v is None or (v > 0 and math.isfinite(v)),
                             message=f'--{_name} must be a positive number')
for _name in ('beta1', 'beta2', 'rho'):
    flags.register_validator(_name, lambda v: v is None or 0 <= v < 1,
                             message=f'--{_name} must be in [0, 1)')
flags.register_validator('n_critic', lambda v: v is None or v >= 1,
                         message='--n_critic must be at least 1')
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
    return 'a' not in registry.MODELS[v['model']].settings or v['a'] != v['b']


@flags.multi_flags_validator(['model', 'feature_matching', 'minibatch_disc', 'label_smoothing'],
                             message='--feature_matching, --minibatch_disc and --label_smoothing '
                                     'apply to --model=improved_gan only')
def _improved_gan_options(v):
    return 'feature_matching' in registry.MODELS[v['model']].settings or not (
        v['feature_matching'] or v['minibatch_disc'] or v['label_smoothing'])


@flags.multi_flags_validator(['mode', 'grad_every'],
                             message='--mode=toy logs every --grad_every steps: give it a value >= 1')
def _toy_logs_gradients(v):
    return v['mode'] != 'toy' or v['grad_every'] >= 1


@flags.multi_flags_validator(['precision', 'xla'],
                             message='--precision=mixed is a graph rewrite that XLA does not '
                                     'see: drop --xla')
def _mixed_without_xla(v):
    return v['precision'] != 'mixed' or not v['xla']


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


def parse_or_exit(argv):
    """absl `flags_parser`: parse argv, or fail on any bad flag."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        utils.fail(error)


def threads_of(argv):
    """--threads of a command line, read ahead of the full parse (which reports bad flags)."""
    try:
        FLAGS(argv, known_only=True)
        return FLAGS.threads
    except flags.Error:
        return 0
    finally:
        FLAGS.unparse_flags()


def config_of(argv):
    """The Config of a command line (argv[0] is the program), leaving FLAGS unparsed."""
    try:
        parse_or_exit(argv)
        return to_config()
    finally:
        FLAGS.unparse_flags()


def to_config(f=FLAGS):
    """The Config of the parsed flags (protocol and architecture defaults resolved)."""
    values = {field: f[field].value for field in config.Config.__dataclass_fields__}
    for name, kind in (('seeds', int), ('classifier_seeds', int), ('gradcheck_steps', int),
                       ('figure2_epochs', int), ('keep_samples_at', int), ('gradcheck_lams', float),
                       ('gradcheck_discriminators', str)):
        values[name] = tuple(kind(x) for x in values[name])
    return config.Config(**values)
