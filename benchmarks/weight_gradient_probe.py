"""The numbers of gan_step.FORWARD_WEIGHT_GRADIENT_MS: each dcgan convolution's weight gradient
at batch 64 timed alone, TensorFlow's Conv2DBackpropFilter against model.weight_gradient (the
same sum as a forward convolution), in bfloat16 and float32, median of 30 calls, 2 threads, with
the largest difference from TensorFlow's float32 gradient (relative to its largest entry).

    python benchmarks/weight_gradient_probe.py      # ~1 min; pause other work on the machine
"""
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

# Before model.py's import: TensorLayer's initialises TensorFlow, which then refuses the change.
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gan_step  # noqa: E402
import model  # noqa: E402

# (table key, input, output gradient): a transposed convolution's "input" is the gradient of its
# output and its output gradient is its input
SHAPES = [(('conv', 1, 64, 2), (28, 28, 1), (14, 14, 64)),
          (('conv', 64, 128, 2), (14, 14, 64), (7, 7, 128)),
          (('conv', 128, 256, 2), (7, 7, 128), (4, 4, 256)),
          (('deconv', 256, 128, 1), (7, 7, 128), (7, 7, 256)),
          (('deconv', 128, 64, 2), (14, 14, 64), (7, 7, 128)),
          (('deconv', 64, 1, 2), (28, 28, 1), (14, 14, 64))]


def tensorflows(x, dy, stride):
    return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[5, 5, x.shape[3], dy.shape[3]],
                                           out_backprop=dy, strides=[1, stride, stride, 1],
                                           padding='SAME')


def median_ms(fn, *args):
    fn(*args).numpy()
    times = []
    for _ in range(30):
        start = time.perf_counter()
        fn(*args).numpy()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main():
    print(gan_step.cpu_line(), f'TensorFlow {tf.__version__}')
    print('| layer | TF bf16 ms | forward bf16 ms | TF f32 ms | forward f32 ms | diff f32 | diff bf16 |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
    rng = np.random.default_rng(0)
    for key, x_shape, dy_shape in SHAPES:
        stride = key[3]
        x32 = tf.constant(rng.standard_normal((64, *x_shape)), tf.float32)
        dy32 = tf.constant(rng.standard_normal((64, *dy_shape)), tf.float32)
        x16, dy16 = tf.cast(x32, tf.bfloat16), tf.cast(dy32, tf.bfloat16)
        ours = tf.function(lambda x, dy: model.weight_gradient(x, dy, 5, stride))
        theirs = tf.function(lambda x, dy: tensorflows(x, dy, stride))
        exact = tensorflows(x32, dy32, stride).numpy()
        diff32, diff16 = (np.abs(tf.cast(ours(x, dy), tf.float32).numpy() - exact).max()
                          / np.abs(exact).max() for x, dy in ((x32, dy32), (x16, dy16)))
        print(f'| {key} | {median_ms(theirs, x16, dy16):.2f} | {median_ms(ours, x16, dy16):.2f} | '
              f'{median_ms(theirs, x32, dy32):.2f} | {median_ms(ours, x32, dy32):.2f} | '
              f'{diff32:.1e} | {diff16:.1e} |', flush=True)


if __name__ == '__main__':
    main()
