"""Stopping a run from outside: a scheduler's SIGTERM, Slurm's SIGUSR1, Ctrl-C, and a full disk.
A signalled run saves at the step it reached and resumes to the result of an uninterrupted run;
a failed write gives one line, exit 1, and loses nothing that was saved."""
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import train
import utils
from conftest import ROOT, tiny_configs_in
from test_robustness import TINY, final_state

RUN = 'lsgan_a-1_b1_c0_n1000_seed0'
EPOCHS = 10
ARGS = ['--model=lsgan', '--deterministic', '--batch_size=50', f'--epochs={EPOCHS}', '--checkpoint_every=5']
STEPS = EPOCHS * 20  # 1,000 digits in batches of 50


def start(tmp_path, *args):
    """main.py in the background, its stderr in tmp_path/stderr.txt."""
    cmd = [sys.executable, str(ROOT / 'main.py'), *TINY[1:], *ARGS, *args,
           f'--sample_dir={tmp_path / "samples"}', f'--checkpoint_dir={tmp_path / "ckpt"}']
    env = {**os.environ, 'KERAS_HOME': str(tmp_path / 'keras')}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=(tmp_path / 'stderr.txt').open('w'))


def wait_for(path, process, timeout=240):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, 'the run ended before it was signalled'
        assert time.monotonic() < deadline, f'{path} never appeared'
        time.sleep(0.01)


def assert_same_as_uninterrupted(run_main, tmp_path):
    """The run in ckpt/<RUN>, finished, equals a twin trained in one go: weights, loss rows,
    every epoch's grid."""
    run_main(*ARGS, '--run_name=twin')
    run_dir, twin_dir = tmp_path / 'ckpt' / RUN, tmp_path / 'ckpt' / 'twin'
    twin, again = final_state(twin_dir), final_state(run_dir)
    assert twin.keys() == again.keys() and len(twin) > 20
    for name in twin:
        np.testing.assert_array_equal(again[name], twin[name], err_msg=name)
    steps = [int(line.split(',')[0]) for line in (run_dir / 'losses.csv').read_text().split()[1:]]
    assert steps == list(range(1, STEPS + 1))  # no step logged twice or lost
    for epoch in range(1, EPOCHS + 1):
        name = f'epoch_{epoch:03d}.png'
        assert ((tmp_path / 'samples' / RUN / name).read_bytes()
                == (tmp_path / 'samples' / 'twin' / name).read_bytes()), name


def test_each_signal_stops_at_the_step_reached_and_the_same_command_resumes(run_main, tmp_path):
    """SIGTERM, SIGUSR1 and SIGINT in turn, then a storm of SIGTERMs that lands during the stop
    and its save; after each the same command resumes, and the run ends where one trained in
    one go does, bit for bit (--deterministic)."""
    run_dir, stopped_at = tmp_path / 'ckpt' / RUN, 0
    for sig, count in [(signal.SIGTERM, 1), (signal.SIGUSR1, 1), (signal.SIGINT, 1),
                       (signal.SIGTERM, 40)]:
        run = start(tmp_path)
        wait_for(run_dir / f'ckpt-{stopped_at // 5 * 5 + 10}.index', run)
        for _ in range(count):
            run.send_signal(sig)
            time.sleep(0.005)
        assert run.wait(timeout=120) == utils.STOPPED == 75
        err = (tmp_path / 'stderr.txt').read_text()
        if stopped_at:
            assert f'Resuming {RUN} from step {stopped_at} ' in err
        last = err.strip().splitlines()[-1]
        stopped_at = int(last.split(' at step ')[1].split()[0])
        assert f'{sig.name} at step {stopped_at} of {STEPS}' in last, last
        assert last.endswith('checkpoint saved: the same command resumes from there (exit 75).')
        assert tf.train.latest_checkpoint(str(run_dir)).endswith(f'ckpt-{stopped_at}')
        assert (run_dir / 'losses.csv').read_text().split()[-1].startswith(f'{stopped_at},')
        assert not (run_dir / 'lock').exists()
    assert stopped_at < STEPS
    run_main(*ARGS)
    assert_same_as_uninterrupted(run_main, tmp_path)


def leftovers(root):
    """Temporary files of atomic writes and of TensorFlow's checkpoint saves."""
    return [p for p in Path(root).rglob('*') if p.name.endswith('.tmp') or '_temp' in p.name
            or p.name.startswith('checkpoint.tmp')]


class FillingFile:
    """A log file on a disk that fills at its flush after step `full_at`: part of the buffered
    rows reaches the disk, then ENOSPC."""

    def __init__(self, file, log, full_at):
        self.file, self.log, self.full_at = file, log, full_at

    def write(self, text):
        return self.file.write(text)

    def flush(self):
        if int(self.log.last_row['step']) >= self.full_at:
            self.file.write('16,2,0.0')  # a row cut short
            self.file.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.file.flush()

    def close(self):
        self.file.close()


FULL_DISK_RUN = dict(model='lsgan', batch_size=100, epochs=2, checkpoint_every=5,
                     deterministic=True, eval_every=2, eval_n=1000, keep_samples_at=[2])


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """The full-disk cases' run trained in one go, once per worker: (checkpoint dir, sample dir)."""
    root = tmp_path_factory.mktemp('uninterrupted')
    with pytest.MonkeyPatch.context() as patch:
        train.train(tiny_configs_in(root, patch)(**FULL_DISK_RUN, run_name='twin'))
    return root / 'c' / 'twin', root / 's' / 'twin'


@pytest.mark.parametrize('point, named', [
    ('checkpoint', 'ckpt-10'), ('grid', 'epoch_002.png'), ('losses.csv', 'losses.csv'),
    ('run.json', 'run.json'), ('samples', 'samples_1000_epoch_002.npz'),
    ('final.json', 'final.json')])
def test_a_full_disk_gives_one_line_exit_1_and_loses_nothing(tiny_config, tmp_path, monkeypatch,
                                                             capsys, uninterrupted, point, named):
    """Each kind of file a run writes fails with ENOSPC after part of it reached the disk."""
    cfg = tiny_config(**FULL_DISK_RUN)

    def fill_disk_at(owner, name, when):
        original = getattr(owner, name)

        def write_part_then_fail(target, *args, **kwargs):
            if not when(str(getattr(target, 'name', target))):
                return original(target, *args, **kwargs)
            if hasattr(target, 'write'):
                target.write(b'PK\x03')
            else:
                Path(target).write_bytes(b'\x00' * 10)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(owner, name, write_part_then_fail)

    if point == 'checkpoint':  # TF's own error, after writing into its temporary directory
        save = tf.train.CheckpointManager.save

        def failing_save(manager, checkpoint_number=None, **kwargs):
            if checkpoint_number != 10:
                return save(manager, checkpoint_number=checkpoint_number, **kwargs)
            (Path(manager.directory) / 'ckpt-10_temp').mkdir()
            (Path(manager.directory) / 'ckpt-10_temp' / 'part-0').write_bytes(b'\x00' * 10)
            raise tf.errors.ResourceExhaustedError(None, None, 'ckpt-10_temp; No space left')

        monkeypatch.setattr(tf.train.CheckpointManager, 'save', failing_save)
    elif point == 'losses.csv':
        open_logs = train.open_logs

        def filling_logs(*args):
            logs = open_logs(*args)
            logs.losses._file = FillingFile(logs.losses._file, logs.losses, full_at=12)
            return logs

        monkeypatch.setattr(train, 'open_logs', filling_logs)
    else:
        owner, name = {'grid': (utils.iio, 'imwrite'), 'run.json': (Path, 'write_text'),
                       'samples': (np, 'savez_compressed'), 'final.json': (Path, 'write_text')}[point]
        fill_disk_at(owner, name, lambda target: named in target)
    with pytest.raises(SystemExit) as stop:
        train.train(cfg)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 1
    assert ': error: cannot write ' in err[-1]
    assert f'{named}: No space left on device' in err[-1], err[-1]
    assert err[-1].endswith('free space and run the same command to resume')
    assert not [line for line in err if 'Traceback' in line or 'Exception ignored' in line]
    assert not leftovers(tmp_path), leftovers(tmp_path)
    run_dir = Path(cfg.checkpoint_dir) / RUN
    assert not (run_dir / 'lock').exists()
    newest = tf.train.latest_checkpoint(str(run_dir))
    if newest:  # the logs reach it
        assert f'the newest checkpoint ({Path(newest).name})' in err[-1]
        assert int(utils.read_csv(run_dir / 'losses.csv')[-1]['step']) >= int(newest.rsplit('-', 1)[1])
    else:
        assert point == 'run.json' and 'no checkpoint had been written' in err[-1]
    monkeypatch.undo()  # space freed: the same run resumes and ends where the one in one go did
    train.train(cfg)
    twin_dir, twin_samples = uninterrupted
    again, same = final_state(run_dir), final_state(twin_dir)
    for name in same:
        np.testing.assert_array_equal(again[name], same[name], err_msg=name)
    assert [int(row['step']) for row in utils.read_csv(run_dir / 'losses.csv')] == list(range(1, 21))
    for name in ('final_1000.npz', 'samples_1000_epoch_002.npz', 'epoch_002.png'):
        assert (Path(cfg.sample_dir) / RUN / name).read_bytes() == (twin_samples / name).read_bytes(), name
    assert (run_dir / 'final.json').read_text() == (twin_dir / 'final.json').read_text()


def test_a_real_full_filesystem(run_main, tmp_path):
    """A 40 MB tmpfs holds one checkpoint of the default network but not two."""
    mount = tmp_path / 'small_disk'
    mount.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', str(mount)],
                      capture_output=True).returncode:
        pytest.skip('mounting a tmpfs needs root (CAP_SYS_ADMIN); the injected ENOSPC tests cover it')
    try:
        args = ['--model=lsgan', '--nodownload', '--eval_every=0', '--train_size=1000',
                '--epochs=3', f'--checkpoint_dir={mount}/c', f'--sample_dir={mount}/s']
        cmd = [sys.executable, str(ROOT / 'main.py'), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        last = done.stderr.strip().splitlines()[-1]
        assert done.returncode == 1
        assert last == (f'main.py: error: cannot write {mount}/c/{RUN}/ckpt-30: No space left on '
                        'device; the newest checkpoint (ckpt-15) and the logs up to it are intact: '
                        'free space and run the same command to resume'), last
        assert not leftovers(mount)
        subprocess.run(['mount', '-o', 'remount,size=400m', str(mount)], check=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and f'Resuming {RUN} from step 15 ' in done.stderr
        steps = [int(row['step']) for row in utils.read_csv(mount / 'c' / RUN / 'losses.csv')]
        assert steps == list(range(1, 46))
    finally:
        subprocess.run(['umount', str(mount)])
