"""Run main.py and SIGKILL this process at a chosen moment, for tests/test_robustness.py:

    python tests/kill_harness.py POINT DELAY_MS [main.py flags...]

POINT is one of checkpoint (inside the first checkpoint save), flush (the first flush of the
CSV logs), rewrite (the first rewrite of a CSV log on resume), grid (the first sample-grid
write) or time (DELAY_MS after the training starts). The kill comes DELAY_MS after entering
that writer, so it can land in the middle of the write.
"""
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
point, delay_s = sys.argv[1], float(sys.argv[2]) / 1000
sys.argv = [str(ROOT / 'main.py'), *sys.argv[3:]]

import tensorflow as tf  # noqa: E402

import train  # noqa: E402
import utils  # noqa: E402


def kill_soon():
    threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGKILL)).start()


def armed(owner, name):
    original = getattr(owner, name)
    fired = []

    def wrapper(*args, **kwargs):
        if not fired:
            fired.append(True)
            kill_soon()
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


TARGETS = {'checkpoint': (tf.train.CheckpointManager, 'save'), 'flush': (train.RunLogs, 'flush'),
           'rewrite': (utils, 'write_csv'), 'grid': (utils, 'save_grid'),
           'time': (train, 'open_logs')}
armed(*TARGETS[point])

import runpy  # noqa: E402

runpy.run_path(str(ROOT / 'main.py'), run_name='__main__')
