"""The benchmarks measure what they say: the step benchmark's profile attributes kernel time to
the op group that spent it; the allocator probe sees the memory it allocates."""
import json
import subprocess
import sys

import tensorflow as tf

from benchmarks import step_benchmark
from conftest import ROOT


def test_profile_attributes_kernel_time_to_op_groups():
    images = tf.random.normal([64, 14, 14, 32])
    kernel = tf.random.normal([5, 5, 32, 32])
    ones, zeros = tf.ones([32]), tf.zeros([32])

    @tf.function
    def step(x):  # a convolution, a batch norm and a sum, like a tiny training step
        y = tf.nn.conv2d(x, kernel, 1, 'SAME')
        y = tf.compat.v1.nn.fused_batch_norm(y, ones, zeros, is_training=True)[0]
        return {'d_loss': tf.reduce_sum(tf.square(y))}

    float(step(images)['d_loss'])  # traced before profiling, as in the benchmark
    ms = step_benchmark.profile(step, (images,), steps=3)
    assert list(ms) == ['conv + matmul', 'batch norm', 'other']
    assert all(value > 0 for value in ms.values()), ms
    assert ms['conv + matmul'] > ms['other']  # a 5x5 convolution outweighs squaring and a sum


def test_allocator_probe_sees_the_float_copy_of_the_training_digits():
    """The probe's RSS readings rise by at least the float32 copy it makes (60,000 x 28 x 28 x 4
    bytes), in a fresh process as the probe runs each setting."""
    done = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'allocator_probe.py'), '--child'],
                          capture_output=True, text=True, check=True, timeout=300)
    resident = json.loads(done.stdout.strip().splitlines()[-1])
    assert resident['float copy made'] - resident['data loaded'] >= 60_000 * 28 * 28 * 4 // 2 ** 20
