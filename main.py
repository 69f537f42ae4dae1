"""Train a GAN of the LSGAN study on MNIST: `python main.py --model=lsgan_reg --a=-1 --b=1 --c=0`.

Every epoch writes an 8x8 grid of G(z_fixed) to samples/<run>/epoch_NNN.png, the metrics and a
checkpoint to checkpoints/<run>/. Re-running the same command resumes where the last
checkpoint ended. This file only parses the flags, builds the Config and dispatches.
"""
import os
import sys
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')  # TF's warnings and errors stay visible
# TensorFlow turns its oneDNN kernels on by itself on newer x86 CPUs (the AMX Xeon and the AVX-512
# EPYC every run of the study trained on) but not on an AVX2-only one, which trains 1.8x faster
# with them (docs/speed.md). TF_ENABLE_ONEDNN_OPTS=0 still turns them off.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
warnings.filterwarnings('ignore', message='distutils Version classes are deprecated')


def _import_tensorflow_quietly():
    """TensorFlow's CUDA probes print to file descriptor 2 during import on a machine without a
    GPU ("Could not find cuda drivers", "failed call to cuInit"), before any log setting
    applies. Only while importing, that descriptor points at /dev/null; a failing import is
    retried with it open so its error shows."""
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 2)
            try:
                import tensorflow as tf
                tf.config.list_physical_devices('GPU')  # the cuInit probe, also silenced
            except Exception:  # noqa: BLE001  re-raised below with stderr back
                pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    import tensorflow  # noqa: F401  cached, or raises its real error now


def _set_threads(threads):
    """TensorFlow fixes its thread pools when its runtime starts, which importing TensorLayer
    does: --threads is applied before the modules below are imported."""
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


if __name__ == '__main__':
    _import_tensorflow_quietly()
    import flags
    _set_threads(flags.threads_of(sys.argv))

from absl import app, logging  # noqa: E402

import evaluate  # noqa: E402
import flags  # noqa: E402
import train  # noqa: E402
import utils  # noqa: E402
from studies import compare, gradcheck, mechanism, toy  # noqa: E402

MODES = {'train': train.train, 'eval': evaluate.evaluate, 'generate': evaluate.generate,
         'rescore': evaluate.rescore,
         'compare': compare.draw, 'gradcheck': gradcheck.run, 'toy': toy.run,
         'mechanism': mechanism.draw}


def main(argv):
    del argv
    logging.get_absl_logger().parent.getChild('tensorflow').setLevel('WARNING')  # per-save chatter
    cfg = flags.to_config()
    logging.info('%s on %s; precision %s, XLA %s.  python %s', cfg.mode, utils.device_line(),
                 cfg.precision, 'on' if cfg.xla else 'off', ' '.join(sys.argv))
    return MODES[cfg.mode](cfg)


if __name__ == '__main__':
    app.run(main, flags_parser=flags.parse_or_exit)
