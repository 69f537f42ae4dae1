"""The benchmarks measure what they say: the step benchmark's profile attributes kernel time to
the op group that spent it, its kernel table counts oneDNN's primitives as they ran; the
allocator probe sees the memory it allocates."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port

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


def test_kernel_rows_sum_onednn_exec_lines_per_step():
    lines = [
        'onednn_verbose,v1,info,oneDNN v3.7.3',
        'onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,jit:avx512_core,'
        'backward_weights,src:f32::blocked:acdb::f0,,alg:convolution_direct,'
        'mb64_ic64oc128_ih14oh7kh5sh2dh0ph1_iw14ow7kw5sw2dw0pw1,0.5',
        *['onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,'
          'src:f32::blocked:acdb::f0 wei:f32:a:blocked:ABcd16b16a::f0,,alg:convolution_direct,'
          f'mb64_ic64oc128_ih14oh7kh5sh2dh0ph1_iw14ow7kw5sw2dw0pw1,{ms}' for ms in (3.0, 5.0, 4.0)],
        'onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ba:f0 '
        'wei_f32::blocked:ab:f0 dst_f32::blocked:ab:f0,,,4096x64:64x1,1.0',
        'I0000 a TensorFlow log line, exec, not oneDNN',
    ]
    rows = step_benchmark.kernel_rows(lines, steps=2)
    assert rows == [
        ('convolution', 'backward_weights', '64->128 ch, 14x14->7x7, 5x5 s2', 'jit:avx512_core',
         'f32', 1.5, 6.0),
        ('gemm_api', 'undef', '4096x64:64x1', '-', 'f32', 0.5, 0.5)]


def test_kernel_report_sets_implementations_side_by_side_and_sums_them():
    def result(impl, rows):
        return {'arch': 'dcgan', 'config': 'mixed', 'impl': impl, 'kernels': rows}

    conv = ['convolution', 'backward_weights', '64->128 ch, 14x14->7x7, 5x5 s2', 'jit_bf16', 'bf16']
    lines = step_benchmark.kernel_report([
        result('project', [[*conv, 3, 16.5], ['reorder', 'undef', '64x1x5x5', 'jit:uni', 'bf16', 8, 0.1],
                           ['convolution', 'forward_training', 's', 'brg', 'bf16', 3, 8.0]]),
        result('keras', [[*conv, 3, 15.5], ['gemm_api', 'undef', '64x1:1x4096', '-', 'f32', 3, 0.12]])])
    assert lines[4] == ('| convolution | backward_weights | 64->128 ch, 14x14->7x7, 5x5 s2 | jit_bf16 | '
                        'bf16 | 3 | 16.5 | 3 | 15.5 |')
    assert lines[5] == '| convolution | forward_training | s | brg | bf16 | 3 | 8.0 |  |  |'
    assert lines[6] == '| other primitives | | | | |  | 0.1 |  | 0.1 |'
    assert lines[7] == '| sum | | | | |  | 24.6 |  | 15.6 |'
    assert lines[8] == '- project: weight gradients (backward_weights) 16.5 of 24.6 ms (67%), on jit_bf16.'
    assert lines[9] == '- keras: weight gradients (backward_weights) 15.5 of 15.6 ms (99%), on jit_bf16.'


@pytest.mark.skipif(not _pywrap_util_port.IsMklEnabled(), reason="TensorFlow's oneDNN ops are off")
def test_onednn_kernels_sees_each_pass_of_a_convolution_once_per_step():
    """In a process with oneDNN's verbose mode, a step that convolves and takes both gradients
    runs one forward, one backward-data and one backward-weights convolution per step."""
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        import tensorflow as tf
        from benchmarks import step_benchmark
        x, w = tf.random.normal([8, 14, 14, 16]), tf.Variable(tf.random.normal([5, 5, 16, 16]))

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.nn.conv2d(x, w, 1, 'SAME') ** 2)
            dx, dw = tape.gradient(loss, [x, w])
            return {{'d_loss': tf.reduce_sum(dx) + tf.reduce_sum(dw)}}

        float(step(x)['d_loss'])
        print(json.dumps(step_benchmark.onednn_kernels(step, (x,), steps=3)))
    """)
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          check=True, timeout=300, env={**os.environ, 'ONEDNN_VERBOSE': '1'})
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    convolutions = {row[1]: row for row in rows if row[0] == 'convolution'}
    assert set(convolutions) == {'forward_training', 'backward_data', 'backward_weights'}, rows
    for _, _, shape, kernel, dtype, calls, ms in convolutions.values():
        assert (shape, dtype, calls) == ('16->16 ch, 14x14->14x14, 5x5 s1', 'f32', 1.0)
        assert kernel and ms > 0


def test_allocator_probe_sees_the_float_copy_of_the_training_digits():
    """The probe's RSS readings rise by at least the float32 copy it makes (60,000 x 28 x 28 x 4
    bytes), in a fresh process as the probe runs each setting."""
    done = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'allocator_probe.py'), '--child'],
                          capture_output=True, text=True, check=True, timeout=300)
    resident = json.loads(done.stdout.strip().splitlines()[-1])
    assert resident['float copy made'] - resident['data loaded'] >= 60_000 * 28 * 28 * 4 // 2 ** 20


def test_rounds_combine_into_the_median_of_each_configuration_with_its_range():
    def run(config, ms, peak):
        return {'arch': 'dcgan', 'impl': 'project', 'config': config, 'ms': ms, 'peak_mib': peak}

    rounds = [run('mixed', 80.0, 850), run('function', 190.0, 900), run('mixed', 77.0, 860),
              run('function', 188.0, 890), run('mixed', 82.0, 855)]
    combined = {r['config']: r for r in step_benchmark.combine_rounds(rounds)}
    assert combined['mixed']['ms'] == 80.0 and combined['mixed']['round_ms'] == [80.0, 77.0, 82.0]
    assert combined['function']['ms'] == 189.0 and combined['mixed']['peak_mib'] == 860
    table = step_benchmark.report(list(combined.values()), {})
    assert '| dcgan | project | mixed | bfloat16 | 80.0 | 77.0-82.0 |' in table
    assert 'ms/step (median of 3 rounds) | range' in table
