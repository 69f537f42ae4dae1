"""Never lose a run: SIGKILL and resume, damaged checkpoints, NaN, determinism, bad input."""
import os
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

import losses
import train
from conftest import ROOT

RUN = 'lsgan_a-1_b1_c0_n1000_seed0'
TINY = ['--model=lsgan', '--nodownload', '--eval_every=0', '--gf_dim=4', '--df_dim=4',
        '--sample_size=4', '--train_size=1000']


def final_state(ckpt_dir):
    """Every saved tensor of the newest checkpoint but the save counter, by name."""
    reader = tf.train.load_checkpoint(str(ckpt_dir))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith('save_counter') and name != '_CHECKPOINTABLE_OBJECT_GRAPH'}


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(run_main, tmp_path):
    args = ['--model=lsgan', '--batch_size=50', '--epochs=4', '--checkpoint_every=5']  # 20 steps an epoch
    run_main(*args, '--run_name=twin')
    killed_dir = tmp_path / 'ckpt' / RUN
    cmd = [sys.executable, str(ROOT / 'main.py'), *TINY, *args,
           f'--sample_dir={tmp_path / "samples"}', f'--checkpoint_dir={tmp_path / "ckpt"}']
    env = {**os.environ, 'KERAS_HOME': str(tmp_path / 'keras')}
    victim = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (killed_dir / 'ckpt-25.index').exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert not (killed_dir / 'ckpt-80.index').exists(), 'the run ended before it was killed'
    resumed = run_main(*args)
    assert 'Resuming' in resumed.stderr
    twin, again = final_state(tmp_path / 'ckpt' / 'twin'), final_state(killed_dir)
    assert twin.keys() == again.keys() and len(twin) > 20
    for name in twin:
        np.testing.assert_allclose(again[name], twin[name], rtol=1e-5, atol=1e-6, err_msg=name)
    steps = [int(line.split(',')[0]) for line in (killed_dir / 'losses.csv').read_text().split()[1:]]
    assert steps == list(range(1, 81))  # no step logged twice or lost


def test_kills_at_random_moments_never_change_the_result(run_main, tmp_path):
    """At least 10 SIGKILLs, inside checkpoint saves, log flushes and rewrites, grid writes
    and at random moments; every resume continues, and the finished run equals one that was
    never interrupted: the same weights, every loss row exactly once, every epoch's grid."""
    import random
    args = ['--model=lsgan', '--train_size=200', '--batch_size=20', '--epochs=3',
            '--checkpoint_every=3']  # 10 steps an epoch, 30 in all
    run_main(*args, '--run_name=twin')
    run_dir, twin_dir = tmp_path / 'ckpt' / 'lsgan_a-1_b1_c0_n200_seed0', tmp_path / 'ckpt' / 'twin'
    cmd = [sys.executable, str(ROOT / 'tests' / 'kill_harness.py')]
    flags_ = [*TINY[1:], *args, f'--sample_dir={tmp_path / "samples"}',
              f'--checkpoint_dir={tmp_path / "ckpt"}']
    env = {**os.environ, 'KERAS_HOME': str(tmp_path / 'keras')}
    rng = random.Random(0)
    points = ['checkpoint', 'flush', 'rewrite', 'grid', 'time'] * 3  # every try killed so far
    killed = []
    for point in points:
        delay = rng.uniform(0, 30) if point != 'time' else rng.uniform(0, 1500)
        done = subprocess.run([*cmd, point, str(delay), *flags_], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode in (0, -signal.SIGKILL), done.stderr[-2000:]
        if done.returncode == -signal.SIGKILL:
            killed.append(point)
        if 'nothing to do' in done.stderr or 'Finished' in done.stderr:
            break
    assert len(killed) >= 10 and {'checkpoint', 'flush', 'rewrite', 'grid'} <= set(killed), killed
    run_main(*args)  # finish whatever is left
    twin, again = final_state(twin_dir), final_state(run_dir)
    assert twin.keys() == again.keys() and len(twin) > 20
    for name in twin:
        np.testing.assert_allclose(again[name], twin[name], rtol=1e-5, atol=1e-6, err_msg=name)
    steps = [int(line.split(',')[0]) for line in (run_dir / 'losses.csv').read_text().split()[1:]]
    assert steps == list(range(1, 31))  # no step logged twice or lost
    for epoch in (1, 2, 3):
        grid = tmp_path / 'samples' / run_dir.name / f'epoch_{epoch:03d}.png'
        twin_grid = tmp_path / 'samples' / 'twin' / f'epoch_{epoch:03d}.png'
        assert np.abs(iio.imread(grid).astype(int) - iio.imread(twin_grid)).max() <= 1
    assert not (run_dir / 'lock').exists()


@pytest.mark.parametrize('damage', ['truncate', 'flip'])
def test_damaged_latest_checkpoint_falls_back_to_the_previous(run_main, tmp_path, damage):
    run_main('--model=lsgan', '--batch_size=16', '--max_steps=4', '--checkpoint_every=2')
    data_file = next((tmp_path / 'ckpt' / RUN).glob('ckpt-4.data-*'))
    raw = bytearray(data_file.read_bytes())
    if damage == 'truncate':
        raw = raw[:len(raw) // 3]
    else:
        raw[len(raw) // 2:len(raw) // 2 + 64] = bytes(64)  # same size, wrong bytes
    data_file.write_bytes(bytes(raw))
    resumed = run_main('--model=lsgan', '--batch_size=16', '--max_steps=6', '--checkpoint_every=2')
    assert 'ckpt-4 is unreadable' in resumed.stderr
    assert f'Resuming {RUN} from step 2' in resumed.stderr


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config, monkeypatch, capsys):
    train.train(tiny_config(model='lsgan', batch_size=16, max_steps=2, checkpoint_every=2))
    monkeypatch.setattr(losses, 'lsgan_generator_loss', lambda d_fake, c: np.nan * tf.reduce_mean(d_fake))
    cfg = tiny_config(model='lsgan', batch_size=16, max_steps=6, checkpoint_every=2)
    with pytest.raises(SystemExit) as stop:
        train.train(cfg)
    assert stop.value.code == 1
    assert 'g_loss is nan at step 3' in capsys.readouterr().err
    assert tf.train.latest_checkpoint(f'{cfg.checkpoint_dir}/{RUN}').endswith('ckpt-2')


def test_deterministic_runs_give_identical_grids(run_main, tmp_path):
    run_main('--deterministic', '--batch_size=32', '--max_steps=3', '--run_name=one')
    run_main('--deterministic', '--batch_size=32', '--max_steps=3', '--run_name=two')
    samples = tmp_path / 'samples'
    assert (samples / 'one' / 'epoch_001.png').read_bytes() == (samples / 'two' / 'epoch_001.png').read_bytes()


@pytest.mark.parametrize('overrides, message', [
    (dict(batch_size=2000), 'exceeds the 1000 training images'),
    (dict(train_size=70000), '--train_size=70000 exceeds the 60000 training images'),
    (dict(data_dir='{tmp}/nowhere'), 'is not a directory'),
    (dict(data_dir='{tmp}'), 'no train-images-idx3-ubyte'),
])
def test_bad_input_found_at_run_time_exits_2_before_writing(tiny_config, tmp_path, overrides,
                                                           message, capsys):
    overrides = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in overrides.items()}
    with pytest.raises(SystemExit) as stop:
        train.train(tiny_config(**overrides))
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / 'c').exists() and not (tmp_path / 's').exists()


def test_bad_data_file_through_main_names_the_file(run_main, tmp_path):
    data_dir = tmp_path / 'mnist'
    data_dir.mkdir()
    np.savez(data_dir / 'mnist.npz', x_train=np.zeros((5, 28, 28), np.uint8), y_train=np.zeros(4, np.uint8),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    done = run_main(f'--data_dir={data_dir}', check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f'main.py: error: {data_dir / "mnist.npz"}: 5 images but labels of shape (4,)')
