import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')  # the kernels main.py trains with

TINY = dict(gf_dim=4, df_dim=4, sample_size=4, eval_every=0, download=False, train_size=1000)


def tiny_configs_in(root, monkeypatch):
    """A maker of Configs of tiny networks on 1,000 of the embedded digits, outputs in root; the
    Keras cache is an empty directory, so nothing depends on what this machine has cached."""
    import config
    import data
    monkeypatch.setattr(data, 'KERAS_DATASETS', root / 'keras')

    def make(**overrides):
        return config.Config(**{**TINY, 'sample_dir': str(root / 's'),
                                'checkpoint_dir': str(root / 'c'), **overrides})

    return make


@pytest.fixture
def tiny_config(tmp_path, monkeypatch):
    """tiny_configs_in(tmp_path)."""
    return tiny_configs_in(tmp_path, monkeypatch)


@pytest.fixture
def run_main(tmp_path):
    """Run main.py in a subprocess with the settings of `tiny_config`."""
    import subprocess

    def run(*args, check=True):
        env = {**os.environ, 'KERAS_HOME': str(tmp_path / 'keras')}
        cmd = [sys.executable, str(ROOT / 'main.py'), '--nodownload', '--eval_every=0',
               '--gf_dim=4', '--df_dim=4', '--sample_size=4', '--train_size=1000',
               f'--sample_dir={tmp_path / "samples"}', f'--checkpoint_dir={tmp_path / "ckpt"}',
               *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            raise AssertionError(f'{cmd} exited {done.returncode}:\n{done.stderr[-3000:]}')
        return done

    return run
