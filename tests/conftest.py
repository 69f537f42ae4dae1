import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture
def run_main(tmp_path):
    """Run main.py in a subprocess on the embedded data with tiny widths, outputs in tmp_path.

    The Keras cache is pointed at an empty directory and downloads are off, so the run never
    depends on what this machine happens to have cached.
    """
    import subprocess

    def run(*args, check=True):
        env = {**os.environ, 'KERAS_HOME': str(tmp_path / 'keras')}
        cmd = [sys.executable, str(ROOT / 'main.py'), '--nodownload', '--noxla', '--eval_every=0',
               '--gf_dim=4', '--df_dim=4', '--sample_size=4',
               f'--sample_dir={tmp_path / "samples"}', f'--checkpoint_dir={tmp_path / "ckpt"}',
               *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            raise AssertionError(f'{cmd} exited {done.returncode}:\n{done.stderr[-3000:]}')
        return done

    return run
