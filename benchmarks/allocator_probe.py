"""How much memory TensorFlow keeps after a large tensor is freed, with oneDNN's CPU allocator
(TensorFlow's default on x86 when oneDNN is on) and with the system allocator.

    python benchmarks/allocator_probe.py --out=results/memory/allocator.md    # ~30 s

Each setting runs in a fresh process (the allocator is chosen when TensorFlow starts): load the
shipped MNIST, scale all 60,000 training digits to float32 at once (188 MB, and the
intermediates of the scaling), delete the result, and read VmRSS from /proc/self/status
after each stage. Linux only.
"""
import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {'default (oneDNN allocator)': {},
            'TF_ONEDNN_USE_SYSTEM_ALLOCATOR=true': {'TF_ONEDNN_USE_SYSTEM_ALLOCATOR': 'true'},
            'TF_ENABLE_ONEDNN_OPTS=0': {'TF_ENABLE_ONEDNN_OPTS': '0'}}
STAGES = ('data loaded', 'float copy made', 'float copy deleted')


def rss_mib():
    status = Path('/proc/self/status').read_text().splitlines()
    return int(next(line for line in status if line.startswith('VmRSS')).split()[1]) // 1024


def probe():
    """{stage: VmRSS in MiB} of this process."""
    sys.path.insert(0, str(ROOT))
    import data
    found = data.load('mnist', download=False)
    resident = {STAGES[0]: rss_mib()}
    scaled = data.to_model_range(found.x_train).numpy()
    resident[STAGES[1]] = rss_mib()
    del scaled
    gc.collect()
    resident[STAGES[2]] = rss_mib()
    return resident


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', help='also write the table to this file')
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(probe()))
        return
    lines = ['| allocator | ' + ' | '.join(f'VmRSS {stage} (MiB)' for stage in STAGES)
             + ' | kept after delete (MiB) |', '| --- |' + ' ---: |' * (len(STAGES) + 1)]
    for name, env in SETTINGS.items():
        out = subprocess.run([sys.executable, __file__, '--child'], env={**os.environ, **env},
                             capture_output=True, text=True, check=True).stdout
        resident = json.loads(out.strip().splitlines()[-1])
        kept = resident[STAGES[2]] - resident[STAGES[0]]
        lines.append(f'| {name} | ' + ' | '.join(str(resident[s]) for s in STAGES) + f' | {kept} |')
    table = '\n'.join(lines) + '\n'
    print(table, end='')
    if args.out:
        Path(args.out).write_text(table)


if __name__ == '__main__':
    main()
