"""Time one training step of every model, against a plain Keras 3 yardstick.

    python benchmarks/step_benchmark.py                  # all six models, ~15 min on 2 cores
    python benchmarks/step_benchmark.py --models=lsgan_reg --steps=30 --out=results/benchmark.md

Each configuration runs in a fresh subprocess (so peak memory and XLA caches are its own):
the project's step (training.make_train_step, the one training uses) run eagerly, as a
tf.function, and as a tf.function compiled with XLA; and the Keras 3 DCGAN-tutorial-style
LSGAN step of benchmarks/keras_dcgan.py as a tf.function with and without XLA. Reported: the
median ms/step over --steps steps after warm-up (batch 64, default widths), images/s, peak
resident memory, the step's FLOPs from the layer shapes and the achieved GFLOP/s next to the
machine's float32 matmul rate.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ('gan', 'improved_gan', 'wgan', 'wgan_gp', 'lsgan', 'lsgan_reg')
BATCH, Z_DIM, GF_DIM, DF_DIM, FC = 64, 100, 64, 64, 1024


def layer_flops(batch=BATCH, z_dim=Z_DIM, gf=GF_DIM, df=DF_DIM):
    """Forward FLOPs (2 x multiply-adds) of each weight layer of G and of D."""
    generator = {
        'dense1': batch * z_dim * FC,
        'dense2': batch * FC * 7 * 7 * 2 * gf,
        'deconv1': batch * 7 * 7 * 2 * gf * gf * 25,  # transposed conv: input positions x ...
        'deconv2': batch * 14 * 14 * gf * 1 * 25,
    }
    discriminator = {
        'conv1': batch * 14 * 14 * 1 * df * 25,
        'conv2': batch * 7 * 7 * df * 2 * df * 25,
        'dense1': batch * 7 * 7 * 2 * df * FC,
        'dense2': batch * FC,
    }
    return ({k: 2 * v for k, v in generator.items()}, {k: 2 * v for k, v in discriminator.items()})


def step_flops():
    """FLOPs of the joint training step, counting each matmul/conv pass the step needs.

    Forward: G, D(real), D(fake). D's loss: weight gradients of both D passes plus their input
    gradients below the first layer. G's loss: input gradients through D(fake) down to the
    image, then G's weight gradients and input gradients below its first layer. A backward pass
    of a layer costs its forward FLOPs once for the weight gradient and once for the input one.
    Batch norm, activations and Adam are elementwise and left out.
    """
    g, d = layer_flops()
    f_g, f_d = sum(g.values()), sum(d.values())
    forward = f_g + 2 * f_d
    d_backward = 2 * (f_d + f_d - d['conv1'])
    g_backward = f_d + (f_g + f_g - g['dense1'])
    return forward + d_backward + g_backward


def build_step(spec):
    """The step function a spec names, and its argument list."""
    import tensorflow as tf
    if spec['impl'] == 'keras':
        sys.path.insert(0, str(ROOT / 'benchmarks'))
        import keras_dcgan
        step = keras_dcgan.make_train_step(BATCH, Z_DIM, jit_compile=spec['mode'] == 'xla')
        return step, (tf.random.uniform([BATCH, 28, 28, 1], -1, 1),)
    sys.path.insert(0, str(ROOT))
    import flags
    import training
    import model
    flags.parse_or_exit(['benchmark', f'--model={spec["model"]}',
                         '--xla' if spec['mode'] == 'xla' else '--noxla'])
    f = flags.FLAGS
    tf.random.set_seed(0)
    G = model.generator(f.z_dim, f.gf_dim)
    D = model.discriminator(f.df_dim, f.critic_norm, f.minibatch_disc)
    g_opt, d_opt = training.make_optimizer(f), training.make_optimizer(f)
    g_opt.build(G.trainable_weights)
    d_opt.build(D.trainable_weights)
    step = training.make_train_step(G, D, g_opt, d_opt, tf.random.Generator.from_seed(0), f)
    if spec['mode'] == 'eager':
        step = step.python_function
    return step, (tf.random.uniform([BATCH, 28, 28, 1], -1, 1), True, True)


def child(spec):
    """Time one configuration in this process; print one JSON line."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import warnings
    warnings.filterwarnings('ignore', message='distutils Version classes are deprecated')
    if spec['impl'] == 'breakdown':
        print(json.dumps({'rows': breakdown(spec['mode'] == 'xla')}))
        return
    step, args = build_step(spec)
    times = []
    for i in range(spec['warmup'] + spec['steps']):
        start = time.perf_counter()
        float(step(*args)['d_loss'])  # fetching the loss waits for the whole step
        if i >= spec['warmup']:
            times.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**spec, 'ms': 1000 * float(np.median(times)), 'peak_mib': peak_mib}))


def layer_ops():
    """(name, op(x, w), x shape, w shape, forward/weight-grad/input-grad passes per step)."""
    import tensorflow as tf

    def conv(x, w):
        return tf.nn.conv2d(x, w, 2, 'SAME')

    def deconv(x, w):
        return tf.nn.conv2d_transpose(x, w, [x.shape[0], 2 * x.shape[1], 2 * x.shape[2],
                                             w.shape[2]], 2, 'SAME')

    # G's layers run once forward and once backward; D's twice (real, fake) forward, twice for
    # weight gradients and three times for input gradients (real, fake for D, fake for G).
    g, d = (1, 1, 1), (2, 2, 3)
    return [
        ('G dense1', tf.matmul, (BATCH, Z_DIM), (Z_DIM, FC), (1, 1, 0)),
        ('G dense2', tf.matmul, (BATCH, FC), (FC, 7 * 7 * 2 * GF_DIM), g),
        ('G deconv1', deconv, (BATCH, 7, 7, 2 * GF_DIM), (5, 5, GF_DIM, 2 * GF_DIM), g),
        ('G deconv2', deconv, (BATCH, 14, 14, GF_DIM), (5, 5, 1, GF_DIM), g),
        ('D conv1', conv, (BATCH, 28, 28, 1), (5, 5, 1, DF_DIM), (2, 2, 1)),
        ('D conv2', conv, (BATCH, 14, 14, DF_DIM), (5, 5, DF_DIM, 2 * DF_DIM), d),
        ('D dense1', tf.matmul, (BATCH, 7 * 7 * 2 * DF_DIM), (7 * 7 * 2 * DF_DIM, FC), d),
        ('D dense2', tf.matmul, (BATCH, FC), (FC, 1), d),
    ]


def median_ms(fn, repeats=20):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn().numpy()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def breakdown(xla):
    """Where the project's step spends its time: each weight layer's forward, weight-gradient
    and input-gradient op at the step's shapes, times its passes per step, and the optimizer
    update of all 13.4 M weights (Adam, both players)."""
    import tensorflow as tf
    rows = []
    for name, op, x_shape, w_shape, passes in layer_ops():
        x, w = tf.random.normal(x_shape), tf.random.normal(w_shape)

        def grad(wrt, op=op, x=x, w=w):
            def fn():
                with tf.GradientTape() as tape:
                    tape.watch(wrt(x, w))
                    y = op(x, w)
                return tape.gradient(y, wrt(x, w))
            return fn

        timed = [tf.function(fn, jit_compile=xla) for fn in
                 (lambda op=op, x=x, w=w: op(x, w), grad(lambda x, w: w), grad(lambda x, w: x))]
        ms = [median_ms(fn) for fn in timed]
        rows.append((name, *ms, sum(p * m for p, m in zip(passes, ms))))
    sys.path.insert(0, str(ROOT))
    import model
    G, D = model.generator(), model.discriminator()
    weights = G.trainable_weights + D.trainable_weights
    optimizer = tf.keras.optimizers.Adam(1e-4, beta_1=0.5)
    optimizer.build(weights)
    grads = [tf.random.normal(w.shape) * 1e-3 for w in weights]

    @tf.function(jit_compile=xla)
    def update():
        optimizer.apply_gradients(zip(grads, weights))
        return weights[0]

    rows.append(('Adam update, G and D', 0.0, 0.0, 0.0, median_ms(update)))
    return rows


def run_child(spec):
    done = subprocess.run([sys.executable, __file__, '--child', json.dumps(spec)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'{spec} failed:\n{done.stderr[-2000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def matmul_gflops(n=2048, repeats=10):
    """The machine's float32 matmul rate: median over repeats of an n x n product."""
    import tensorflow as tf
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    float(tf.reduce_sum(tf.matmul(a, b)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        float(tf.reduce_sum(tf.matmul(a, b)))
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / float(np.median(times)) / 1e9


def machine():
    cpu = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo')
                if line.startswith('model name')), platform.processor())
    import tensorflow as tf
    return f'{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, TF {tf.__version__}'


def report(results, flops, matmul_rate):
    lines = ['| implementation | model | mode | ms/step | images/s | GFLOP/s | peak MiB |',
             '| --- | --- | --- | ---: | ---: | ---: | ---: |']
    for r in results:
        lines.append(f'| {r["impl"]} | {r.get("model", "lsgan")} | {r["mode"]} | {r["ms"]:.0f} | '
                     f'{BATCH / r["ms"] * 1000:.0f} | {flops / r["ms"] / 1e6:.1f} | '
                     f'{r["peak_mib"]:.0f} |')
    by_key = {(r['impl'], r.get('model'), r['mode']): r['ms'] for r in results}
    lines.append('')
    lines.append(f'Step FLOPs (from the layer shapes, see step_flops): {flops / 1e9:.1f} GFLOP; '
                 f'machine float32 matmul (2048^2): {matmul_rate:.0f} GFLOP/s.')
    keras_best = min(v for (impl, _, _), v in by_key.items() if impl == 'keras')
    for m in sorted({r['model'] for r in results if r['impl'] == 'project'}):
        modes = {mode: ms for (impl, model, mode), ms in by_key.items()
                 if impl == 'project' and model == m}
        best_mode = min(modes, key=modes.get)
        line = (f'{m}: best configuration {best_mode} {modes[best_mode]:.0f} ms, '
                f'{keras_best / modes[best_mode]:.2f}x faster than the best Keras step '
                f'({keras_best:.0f} ms)')
        if 'eager' in modes:
            line += f', {modes["eager"] / modes[best_mode]:.2f}x faster than its own eager step'
        lines.append(line + '.')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', default=','.join(MODELS))
    parser.add_argument('--modes', default='eager,function,xla')
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--breakdown', action='store_true',
                        help='also time each layer op and the optimizer update (XLA)')
    parser.add_argument('--out', help='also write the report (markdown) to this file')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    common = {'steps': args.steps, 'warmup': args.warmup}
    specs = [{'impl': 'keras', 'mode': mode, **common} for mode in ('function', 'xla')]
    specs += [{'impl': 'project', 'model': m, 'mode': mode, **common}
              for m in args.models.split(',') for mode in args.modes.split(',')]
    results = []
    for spec in specs:
        results.append(run_child(spec))
        r = results[-1]
        print(f'{r["impl"]:8s} {r.get("model", "lsgan"):13s} {r["mode"]:9s} {r["ms"]:7.0f} ms/step '
              f'{r["peak_mib"]:6.0f} MiB', flush=True)
    text = f'Machine: {machine()}\n\n' + report(results, step_flops(), matmul_gflops())
    if args.breakdown:
        rows = run_child({'impl': 'breakdown', 'mode': 'xla'})['rows']
        text += ("\n\nWhere the XLA step's time goes (ms; per step = forward, weight-gradient "
                 'and input-gradient passes times their counts):\n\n'
                 '| op | forward | weight grad | input grad | per step |\n'
                 '| --- | ---: | ---: | ---: | ---: |\n')
        text += '\n'.join(f'| {name} | {f:.1f} | {w:.1f} | {i:.1f} | {t:.1f} |'
                           for name, f, w, i, t in rows)
        text += (f'\n| sum | | | | {sum(r[-1] for r in rows):.0f} |\n\nOps timed one by one '
                 '(each with its own dispatch); XLA fuses the elementwise work (batch norm, '
                 'activations, losses) into them, so a sum near or above the measured step means '
                 'the step is bound by these matmuls and convolutions.')
    print('\n' + text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f'Command: python benchmarks/{Path(__file__).name} '
                                  f'{" ".join(sys.argv[1:])}\n\n{text}\n')


if __name__ == '__main__':
    main()
