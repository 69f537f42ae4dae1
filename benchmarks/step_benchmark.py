"""Time the training step of both architectures in both precisions, against a Keras 3
yardstick and a PyTorch yardstick doing the same step, in one run.

    python benchmarks/step_benchmark.py --profile --out=results/benchmark.md    # ~15 min, 2 cores
    python benchmarks/step_benchmark.py --archs=dcgan --configs=function,mixed --steps=10
    python benchmarks/step_benchmark.py --env=TF_ONEDNN_USE_SYSTEM_ALLOCATOR=true ...  # an A/B
    python benchmarks/step_benchmark.py --archs=dcgan --rounds=6 --kernels \
        --configs=function,mixed,mixed_tf_wgrad,mixed_compiled    # the three in bfloat16

The step is the slides protocol's joint lsgan_reg step (one forward pass, both players
updated), batch 64, default widths. Each configuration runs in a fresh subprocess (its own
peak memory, XLA cache and graph-rewrite options): the project's step
(gan_step.make_train_step, the one training uses) and benchmarks/keras_yardstick.py, each as
a tf.function in float32, compiled with XLA in float32, and in mixed precision (the project:
--precision=mixed, oneDNN's bfloat16 rewrite; Keras: the mixed_bfloat16 policy), and the
project's float32 step with TensorLayer's unfused batch norm (the A/B of model.BatchNorm's
fused kernel; only when --configs names unfused_bn). benchmarks/torch_yardstick.py (where
PyTorch is installed: pip install -r benchmarks/requirements-pytorch.txt) runs function and
mixed eagerly (mixed: bfloat16 autocast), xla and mixed_compiled through torch.compile.
--rounds repeats every configuration that many times, alternating, each round in fresh
processes, and reports the median over the rounds with their range. Reported:
median ms/step over --steps steps after warm-up, images/s, GFLOP/s from the step's FLOPs
(counted from the layer tables), peak resident memory, the CPU's flags, and where the time
goes: every weight layer's forward, weight-gradient and input-gradient op timed alone at the
step's shapes in each precision, and the optimizer update. With --profile, each
configuration's own step is also profiled (TensorFlow's profiler): kernel time by op group.
With --kernels, each configuration's step is run once more with oneDNN's verbose mode, which
names the implementation (kernel) of every primitive the step executes and times it: which
kernel each pass of each layer sits on, in the project's step and in Keras's.
"""
import argparse
import collections
import importlib.util
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')  # as main.py does: time the step training runs
BATCH, Z_DIM, WIDTH, KERNEL = 64, 100, 64, 5
CONFIGS = ('function', 'xla', 'mixed')
# The project's float32 step with TensorLayer's own batch norm (separate moment and
# normalisation ops) instead of model.BatchNorm's fused kernel: the before of that change.
UNFUSED_BN = 'unfused_bn'
# The project's mixed step with TensorFlow's own bfloat16 weight gradients in every layer:
# the before of gan_step.FORWARD_WEIGHT_GRADIENT_MS.
TF_WEIGHT_GRADIENTS = 'mixed_tf_wgrad'
ABLATIONS = (UNFUSED_BN, TF_WEIGHT_GRADIENTS)  # project-only configurations
MIXED_COMPILED = 'mixed_compiled'  # PyTorch only: bfloat16 autocast under torch.compile
IMPL_CONFIGS = {'project': (*CONFIGS, *ABLATIONS), 'keras': CONFIGS,
                'torch': (*CONFIGS, MIXED_COMPILED)}
BFLOAT16_CONFIGS = ('mixed', MIXED_COMPILED)
# --profile's op groups, by op type (the rest: element-wise ops, casts, the optimizer's
# arithmetic, random numbers).
PROFILE_GROUPS = (('conv + matmul', ('Conv2D', 'MatMul')), ('batch norm', ('BatchNorm',)))
SMALL_MS = 0.2  # --kernels: rows under this in every implementation are summed into one


def weight_layers(arch):
    """[(network, name, kind, input shape, weight shape)] of every weight layer of G and D at
    the benchmark's shapes, walked from model.ARCHITECTURES."""
    import model
    spec = model.ARCHITECTURES[arch]
    found = []

    def walk(net, table, shape):
        for op, *args in table:
            name = f'{net} {op}'
            if op == 'dense':
                found.append((net, f'{name} {shape[1]}->{args[0]}', 'matmul', shape, (shape[1], args[0])))
                shape = (BATCH, args[0])
            elif op == 'project':
                units = args[1] ** 2 * args[0] * WIDTH
                found.append((net, f'{net} dense {shape[1]}->{units}', 'matmul', shape, (shape[1], units)))
                shape = (BATCH, units)
            elif op == 'reshape':
                shape = (BATCH, args[1], args[1], args[0] * WIDTH)
            elif op in ('conv', 'deconv', 'image'):
                channels, stride = (1, args[0]) if op == 'image' else (args[0] * WIDTH, args[1])
                name = f'{net} {"conv" if op == "conv" else "deconv"} s{stride} {shape[3]}->{channels}'
                if op == 'conv':
                    found.append((net, name, 'conv', shape, (KERNEL, KERNEL, shape[3], channels), stride))
                    side = -(-shape[1] // stride)
                else:
                    found.append((net, name, 'deconv', shape, (KERNEL, KERNEL, channels, shape[3]), stride))
                    side = shape[1] * stride
                shape = (BATCH, side, side, channels)
            elif op == 'flatten':
                shape = (BATCH, int(np.prod(shape[1:])))
        return shape

    walk('G', spec.generator, (BATCH, Z_DIM))
    last = walk('D', spec.discriminator, (BATCH, 28, 28, 1))
    found.append(('D', 'D output', 'matmul', last, (last[1], 1)))
    return [f if len(f) == 6 else (*f, 1) for f in found]


def forward_flops(kind, x, w, stride):
    if kind == 'matmul':
        return 2 * x[0] * w[0] * w[1]
    if kind == 'conv':
        side = -(-x[1] // stride)
        return 2 * x[0] * side * side * w[0] * w[1] * w[2] * w[3]
    return 2 * x[0] * x[1] * x[2] * w[0] * w[1] * w[2] * w[3]  # deconv: per input position


def passes(layers, index):
    """(forward, weight-gradient, input-gradient) passes of a layer in the joint step. G runs
    once forward and once backward. D runs forward on the real and the fake batch, takes
    weight gradients of both for D's loss, and input gradients of both for D's loss and of
    the fake one for G's; no input gradient is needed below a network's first layer, except
    D's on the fake batch (it is G's output)."""
    net = layers[index][0]
    first = index == 0 or layers[index - 1][0] != net
    if net == 'G':
        return (1, 1, 0 if first else 1)
    return (2, 2, 1 if first else 3)


def step_flops(arch):
    """FLOPs of the joint step: each weight layer's forward FLOPs times its passes (a gradient
    pass costs one forward). Batch norm, activations and Adam are element-wise, left out."""
    layers = weight_layers(arch)
    return sum(forward_flops(*layer[2:]) * sum(passes(layers, i)) for i, layer in enumerate(layers))


def run_steps(step, args, n):
    for _ in range(n):
        float(step(*args)['d_loss'])  # fetching the loss waits for the whole step


def tensorlayer_batch_norm(self, inputs):
    """TensorLayer 2.2.5's BatchNorm.forward, then its moving statistics pointed back at their
    variables, which TL rebinds to tensors (the smallest fix that lets it run in a tf.function)."""
    import tensorlayer as tl
    outputs = tl.layers.BatchNorm.forward(self, inputs)
    self.moving_mean, self.moving_var = self._nontrainable_weights[:2]
    return outputs


def build_step(spec):
    """The step function a spec names, and its arguments."""
    if spec['impl'] == 'torch':
        import torch
        import torch_yardstick
        torch.manual_seed(0)
        mixed = spec['config'] in BFLOAT16_CONFIGS
        spec['computes_in'] = 'bfloat16' if mixed else 'float32'
        spec['versions'] = f'PyTorch {torch.__version__} ({torch.get_num_threads()} threads)'
        step = torch_yardstick.make_train_step(
            torch_yardstick.make_generator(spec['arch'], Z_DIM), torch_yardstick.make_discriminator(spec['arch']),
            BATCH, Z_DIM, mixed=mixed, compiled=spec['config'] in ('xla', MIXED_COMPILED))
        real = torch.rand(BATCH, 1, 28, 28) * 2 - 1
        return step, (real.contiguous(memory_format=torch.channels_last),)
    import tensorflow as tf
    real = tf.random.uniform([BATCH, 28, 28, 1], -1, 1)
    if spec['impl'] == 'keras':
        if spec['config'] == 'mixed':
            import keras
            keras.mixed_precision.set_global_policy('mixed_bfloat16')
        import keras_yardstick
        step = keras_yardstick.make_train_step(spec['arch'], BATCH, Z_DIM,
                                               jit_compile=spec['config'] == 'xla')
        return step, (real,)
    import config
    import gan_step
    import model
    if spec['config'] == UNFUSED_BN:
        model.BatchNorm.forward = tensorlayer_batch_norm
    mixed = spec['config'] in ('mixed', TF_WEIGHT_GRADIENTS)
    cfg = config.Config(arch=spec['arch'], xla=spec['config'] == 'xla',
                        precision='mixed' if mixed else 'float32',
                        weight_gradients='tensorflow' if spec['config'] == TF_WEIGHT_GRADIENTS else 'auto')
    spec['computes_in'] = gan_step.set_precision(cfg.precision)
    tf.random.set_seed(0)
    players = gan_step.players(cfg, *gan_step.image_networks(cfg))
    step = gan_step.make_train_step(players, tf.random.Generator.from_seed(0), cfg)
    return step, (real, True, True)


def child(spec):
    """Time one configuration in this process; print one JSON line."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import warnings
    warnings.filterwarnings('ignore', message='distutils Version classes are deprecated')
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    if spec['impl'] == 'breakdown':
        print(json.dumps({'rows': breakdown(spec['arch'], spec['dtype'])}))
        return
    step, args = build_step(spec)
    if spec.get('kernels'):
        run_steps(step, args, spec['warmup'])
        print(json.dumps({**spec, 'kernels': onednn_kernels(step, args, spec['steps'])}))
        return
    times = []
    for i in range(spec['warmup'] + spec['steps']):
        start = time.perf_counter()
        run_steps(step, args, 1)
        if i >= spec['warmup']:
            times.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {**spec, 'ms': 1000 * float(np.median(times)), 'peak_mib': peak_mib}
    if spec.get('profile') and spec['impl'] != 'torch':  # TensorFlow's profiler
        result['profile'] = profile(step, args, spec['steps'])
    print(json.dumps(result))


def profile(step, args, steps):
    """Kernel time per step of each op group, from TensorFlow's profiler over `steps` steps
    (after the timed ones, so the profiler's overhead does not reach ms/step)."""
    import tempfile
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        run_steps(step, args, steps)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob('*.xplane.pb')).read_bytes())
    ms = dict.fromkeys([group for group, _ in PROFILE_GROUPS] + ['other'], 0.0)
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # An op's kernel is traced as "op_name:OpType"; the executor's and the
                # function's own events have a space or "::" in their names.
                if ':' not in name or ' ' in name or '::' in name:
                    continue
                op_type = name.rsplit(':', 1)[1]
                group = next((group for group, keys in PROFILE_GROUPS
                              if any(key in op_type for key in keys)), 'other')
                ms[group] += event.duration_ps / 1e9 / steps
    return ms


def onednn_kernels(step, args, steps):
    """[(primitive, pass, shape, implementation, data type, calls, ms)] per step, from oneDNN's
    verbose log of `steps` steps (the process must run with ONEDNN_VERBOSE=1). oneDNN writes
    the log to file descriptor 1, so it is pointed at a temporary file meanwhile."""
    import tempfile
    with tempfile.TemporaryFile('w+') as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            run_steps(step, args, steps)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        return kernel_rows(log, steps)


def kernel_rows(verbose_lines, steps):
    """Sum oneDNN's verbose exec lines (`onednn_verbose,...,exec,cpu,<primitive>,<implementation>,
    <pass>,<memory descriptors>,...,<shape>,<ms>`) by primitive, pass, shape, implementation
    and data type (of the first memory descriptor); per step, heaviest first."""
    total = collections.defaultdict(lambda: [0, 0.0])
    for line in verbose_lines:
        fields = line.strip().split(',')
        if fields[0] != 'onednn_verbose' or 'exec' not in fields:
            continue
        at = fields.index('exec')
        primitive, implementation, kind = fields[at + 2:at + 5]
        dtype = re.match(r'[a-z]+[:_]([a-z0-9]+)', fields[at + 5]).group(1)  # src:bf16 or src_f32
        key = (primitive, kind, conv_shape(fields[-2]), implementation or '-', dtype)
        total[key][0] += 1
        total[key][1] += float(fields[-1])
    rows = [(*key, calls / steps, ms / steps) for key, (calls, ms) in total.items()]
    return sorted(rows, key=lambda row: -row[-1])


def conv_shape(desc):
    """oneDNN's convolution descriptor, e.g. mb64_ic64oc128_ih14oh7kh5sh2dh0ph1_iw14ow7kw5sw2dw0pw1,
    as '64->128 ch, 14x14->7x7, 5x5 s2' (square images and kernels); other shapes as given."""
    m = re.search(r'ic(\d+)oc(\d+)_ih(\d+)oh(\d+)kh(\d+)sh(\d+)', desc)
    if not m:
        return desc
    ic, oc, ih, oh, kh, sh = m.groups()
    return f'{ic}->{oc} ch, {ih}x{ih}->{oh}x{oh}, {kh}x{kh} s{sh}'


def median_ms(fn, repeats=20):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn().numpy()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def breakdown(arch, dtype):
    """Each weight layer's three ops timed alone (tf.function, no XLA) in `dtype`, times their
    passes per step, and one Adam update of both players' weights (float32, as in training)."""
    import tensorflow as tf
    import config
    import gan_step

    def op(kind, stride):
        if kind == 'matmul':
            return tf.matmul
        if kind == 'conv':
            return lambda x, w: tf.nn.conv2d(x, w, stride, 'SAME')
        return lambda x, w: tf.nn.conv2d_transpose(
            x, w, [x.shape[0], x.shape[1] * stride, x.shape[2] * stride, w.shape[2]], stride, 'SAME')

    layers = weight_layers(arch)
    rows = []
    for i, (_, name, kind, x_shape, w_shape, stride) in enumerate(layers):
        f = op(kind, stride)
        x = tf.cast(tf.random.normal(x_shape), dtype)
        w = tf.cast(tf.random.normal(w_shape), dtype)

        def grad(wrt, f=f, x=x, w=w):
            def fn():
                with tf.GradientTape() as tape:
                    tape.watch(wrt(x, w))
                    y = f(x, w)
                return tape.gradient(y, wrt(x, w))
            return fn

        timed = [tf.function(fn) for fn in
                 (lambda f=f, x=x, w=w: f(x, w), grad(lambda x, w: w), grad(lambda x, w: x))]
        ms = [median_ms(fn) for fn in timed]
        flops = forward_flops(kind, x_shape, w_shape, stride)
        per_step = sum(p * m for p, m in zip(passes(layers, i), ms))
        rows.append((name, *ms, per_step, flops * sum(passes(layers, i)) / per_step / 1e6))
    cfg = config.Config(arch=arch)
    players = gan_step.players(cfg, *gan_step.image_networks(cfg))
    weights = players.G.trainable_weights + players.D.trainable_weights
    grads = [tf.random.normal(w.shape) * 1e-3 for w in weights]

    @tf.function
    def update():
        players.g_opt.apply_gradients(zip(grads[:len(players.G.trainable_weights)],
                                          players.G.trainable_weights))
        players.d_opt.apply_gradients(zip(grads[len(players.G.trainable_weights):],
                                          players.D.trainable_weights))
        return weights[0]

    rows.append(('Adam update, G and D', 0.0, 0.0, 0.0, median_ms(update), 0.0))
    return rows


def run_child(spec, env=None):
    done = subprocess.run([sys.executable, __file__, '--child', json.dumps(spec)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f'{spec} failed:\n{done.stderr[-2000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine():
    import gan_step
    flags = gan_step.cpu_flags()
    import tensorflow as tf
    return (f'{gan_step.cpu_name()}, {os.cpu_count()} cores, Python '
            f'{platform.python_version()}, TF {tf.__version__}, its oneDNN kernels '
            f'{"on" if gan_step.onednn_on() else "off"}; CPU flags: '
            + ', '.join(f'{f} {"yes" if f in flags else "no"}' for f in gan_step.VECTOR_FLAGS))


def kernel_report(results):
    """One table per architecture and configuration: every oneDNN primitive of the step with
    its kernel, calls and ms per step in each implementation (project, Keras) side by side."""
    lines = []
    for arch, config in dict.fromkeys((r['arch'], r['config']) for r in results):
        runs = {r['impl']: r['kernels'] for r in results
                if (r['arch'], r['config']) == (arch, config)}
        cells = collections.defaultdict(dict)  # primitive key -> {impl: (calls, ms)}
        for impl, rows in runs.items():
            for *key, calls, ms in rows:
                cells[tuple(key)][impl] = (calls, ms)
        lines += [f"oneDNN primitives of the {arch} {config} step (oneDNN's verbose mode: calls "
                  'and ms per step of each primitive, by kernel; primitives on the two inter-op '
                  'threads overlap, so the sums exceed the step; rows under '
                  f'{SMALL_MS} ms in every implementation are summed in the last row but one):', '',
                  '| primitive | pass | shape | kernel | data type | '
                  + ' | '.join(f'{impl} calls | {impl} ms' for impl in runs) + ' |',
                  '| --- | --- | --- | --- | --- |' + ' ---: |' * (2 * len(runs))]
        largest = {key: max(ms for _, ms in by_impl.values()) for key, by_impl in cells.items()}
        small = collections.Counter()
        for key in sorted(cells, key=lambda key: -largest[key]):
            if largest[key] < SMALL_MS:
                small.update({impl: ms for impl, (_, ms) in cells[key].items()})
                continue
            row = [f'{cells[key][impl][0]:.0f} | {cells[key][impl][1]:.1f}' if impl in cells[key]
                   else ' | ' for impl in runs]
            lines.append('| ' + ' | '.join([*key, *row]) + ' |')
        totals = {impl: sum(row[-1] for row in rows) for impl, rows in runs.items()}
        for name, ms in (('other primitives', small), ('sum', totals)):
            lines.append(f'| {name} | | | | | '
                         + ' | '.join(f' | {ms[impl]:.1f}' for impl in runs) + ' |')
        for impl, rows in runs.items():
            weights = [row for row in rows if row[1] == 'backward_weights']
            ms = sum(row[-1] for row in weights)
            lines.append(f'- {impl}: weight gradients (backward_weights) {ms:.1f} of '
                         f'{totals[impl]:.1f} ms ({ms / totals[impl]:.0%}), on '
                         + ', '.join(sorted({row[3] for row in weights})) + '.')
        lines.append('')
    return lines


def combine_rounds(rounds):
    """One result per configuration from the results of its rounds: ms the median of the
    rounds' medians, with every round's ms kept (the range); the rest from the first round."""
    by_key = collections.defaultdict(list)
    for r in rounds:
        by_key[r['arch'], r['impl'], r['config']].append(r)
    return [{**runs[0], 'ms': float(np.median([r['ms'] for r in runs])),
             'round_ms': [r['ms'] for r in runs], 'peak_mib': max(r['peak_mib'] for r in runs)}
            for runs in by_key.values()]


def report(results, breakdowns, kernels=()):
    rounds = max(len(r.get('round_ms', [0])) for r in results)
    ms_head = f'ms/step (median of {rounds} rounds) | range' if rounds > 1 else 'ms/step'
    lines = [f'| arch | implementation | configuration | computes in | {ms_head} | images/s | '
             'GFLOP/s | peak MiB |', '| --- | --- | --- | --- | ---: |' + ' ---: |' * (3 + (rounds > 1))]
    for r in results:
        flops = step_flops(r['arch'])
        computes_in = r.get('computes_in', 'bfloat16' if r['config'] in BFLOAT16_CONFIGS else 'float32')
        spread = f' | {min(r["round_ms"]):.1f}-{max(r["round_ms"]):.1f}' if rounds > 1 else ''
        lines.append(f'| {r["arch"]} | {r["impl"]} | {r["config"]} | {computes_in} | '
                     f'{r["ms"]:.1f}{spread} | {BATCH / r["ms"] * 1000:.0f} | {flops / r["ms"] / 1e6:.0f} | '
                     f'{r["peak_mib"]:.0f} |')
    lines.append('')
    torch_run = next((r for r in results if r['impl'] == 'torch'), None)
    if torch_run:
        lines += [f'torch ({torch_run["versions"]}): function and mixed run eagerly, xla and '
                  "mixed_compiled through torch.compile; its peak memory includes TensorFlow's, "
                  "imported for model.py's layer tables.", '']
    for arch in dict.fromkeys(r['arch'] for r in results):
        mine = {(r['impl'], r['config']): r['ms'] for r in results if r['arch'] == arch}
        lines.append(f'{arch}: the step is {step_flops(arch) / 1e9:.1f} GFLOP.')
        for scope, configs in (('fastest float32', ('function', 'xla')),
                               ('fastest bfloat16', BFLOAT16_CONFIGS)):
            own = {c: mine[('project', c)] for c in configs if ('project', c) in mine}
            for impl, title in (('keras', 'Keras'), ('torch', 'PyTorch')):
                theirs = {c: mine[(impl, c)] for c in configs if (impl, c) in mine}
                if own and theirs:
                    best, rival = min(own, key=own.get), min(theirs, key=theirs.get)
                    lines.append(f'- {scope}: project {best} {own[best]:.1f} ms vs {title} {rival} '
                                 f'{theirs[rival]:.1f} ms: {theirs[rival] / own[best]:.2f}x.')
        if ('project', UNFUSED_BN) in mine and ('project', 'function') in mine:
            fused, unfused = mine[('project', 'function')], mine[('project', UNFUSED_BN)]
            lines.append(f'- fused batch norm: project function {fused:.0f} ms vs '
                         f"TensorLayer's batch norm {unfused:.0f} ms: {unfused / fused:.2f}x.")
        if ('project', TF_WEIGHT_GRADIENTS) in mine and ('project', 'mixed') in mine:
            forward, tfs = mine[('project', 'mixed')], mine[('project', TF_WEIGHT_GRADIENTS)]
            lines.append(f'- weight gradients as forward convolutions: project mixed {forward:.0f} '
                         f"ms vs TensorFlow's {tfs:.0f} ms: {tfs / forward:.2f}x.")
        lines.append('')
    profiled = [r for r in results if r.get('profile')]
    if profiled:
        groups = list(profiled[0]['profile'])
        lines += ['Kernel time per step by op group (ms, TensorFlow\'s profiler; kernels on the two '
                  'inter-op threads overlap, so the sum can exceed the step; an XLA step is one '
                  'compiled cluster, so all of it is other):', '',
                  '| arch | implementation | configuration | ms/step | ' + ' | '.join(groups)
                  + ' | sum | conv + matmul share |', '| --- | --- | --- |' + ' ---: |' * (len(groups) + 3)]
        for r in profiled:
            kernel = sum(r['profile'].values())
            lines.append(f'| {r["arch"]} | {r["impl"]} | {r["config"]} | {r["ms"]:.0f} | '
                         + ' | '.join(f'{r["profile"][g]:.0f}' for g in groups)
                         + f' | {kernel:.0f} | {r["profile"][groups[0]] / kernel:.0%} |')
        lines.append('')
    for (arch, dtype), rows in breakdowns.items():
        lines += [f'Where a {arch} step\'s time goes, {dtype} (ms; ops timed alone as '
                  'tf.functions; per step = the passes of the joint step):', '',
                  '| op | forward | weight grad | input grad | per step | GFLOP/s |',
                  '| --- | ---: | ---: | ---: | ---: | ---: |']
        lines += [f'| {name} | {f:.1f} | {w:.1f} | {i:.1f} | {t:.1f} | {g:.0f} |'
                  for name, f, w, i, t, g in rows]
        lines += [f'| sum | | | | {sum(r[4] for r in rows):.0f} | |', '']
    if breakdowns:
        lines += ['The step minus that sum is batch norm, activations, losses and dispatch, '
                  'which the ops timed alone leave out.', '']
    if kernels:
        lines += kernel_report(kernels)
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--archs', default='dcgan,infogan')
    parser.add_argument('--configs', default=','.join(CONFIGS),
                        help=f'of {", ".join(CONFIGS)}, {", ".join(ABLATIONS)} (project only)')
    parser.add_argument('--impls', default='keras,project' + (
        ',torch' if importlib.util.find_spec('torch') else ''))
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=1,
                        help='time every configuration this many times, alternating, each in a '
                             'fresh process; report the median over the rounds and their range')
    parser.add_argument('--no_breakdown', action='store_true')
    parser.add_argument('--profile', action='store_true',
                        help="also profile each configuration's step: kernel time by op group")
    parser.add_argument('--kernels', action='store_true',
                        help="also run each configuration's step under oneDNN's verbose mode: "
                             'the kernel and time of every primitive')
    parser.add_argument('--out', help='also write the report (markdown) to this file')
    parser.add_argument('--env', action='append', default=[], metavar='NAME=VALUE',
                        help='an environment variable for every configuration\'s process (an '
                             'A/B of a TensorFlow setting); repeatable')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    for given, known, what in ((args.impls, IMPL_CONFIGS, 'implementation'),
                               (args.configs, {c for cs in IMPL_CONFIGS.values() for c in cs}, 'config')):
        unknown = set(given.split(',')) - set(known)
        if unknown:
            parser.error(f'unknown {what}: {", ".join(sorted(unknown))} (known: {", ".join(sorted(known))})')
    if any('=' not in e for e in args.env):
        parser.error('--env takes NAME=VALUE')
    os.environ.update(e.split('=', 1) for e in args.env)  # for every child, and for machine()
    runs = [(arch, impl, config) for arch in args.archs.split(',')
            for impl in args.impls.split(',') for config in args.configs.split(',')
            if config in IMPL_CONFIGS[impl]]
    rounds, breakdowns, kernels = [], {}, []
    for number in range(1, args.rounds + 1):
        for arch, impl, config in runs:
            spec = {'impl': impl, 'arch': arch, 'config': config, 'steps': args.steps,
                    'warmup': args.warmup}
            r = run_child({**spec, 'profile': args.profile and number == 1})
            rounds.append(r)
            print(f'round {number} {arch:8s} {impl:8s} {config:14s} {r["ms"]:7.1f} ms/step '
                  f'{r["peak_mib"]:6.0f} MiB', flush=True)
            if args.kernels and number == 1:
                kernels.append(run_child({**spec, 'kernels': True}, {'ONEDNN_VERBOSE': '1'}))
    results = combine_rounds(rounds)
    for arch in args.archs.split(','):
        if not args.no_breakdown:
            for dtype in ('float32', 'bfloat16'):
                breakdowns[arch, dtype] = run_child({'impl': 'breakdown', 'arch': arch,
                                                     'dtype': dtype})['rows']
    text = f'Machine: {machine()}\n\n' + report(results, breakdowns, kernels)
    print('\n' + text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f'Command: python benchmarks/{Path(__file__).name} '
                                  f'{" ".join(sys.argv[1:])}\n\n{text}\n')


if __name__ == '__main__':
    main()
