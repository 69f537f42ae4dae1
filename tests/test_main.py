"""main.py end to end (subprocesses, tiny widths, the embedded data) and its flag checking."""
import csv
import json
import os
import platform
import re

import pytest

import config
import flags

RUN = {'lsgan': 'lsgan_a-1_b1_c0_n1000_seed0', 'lsgan_reg': 'lsgan_reg_a-1_b1_c0_lam0.5_n1000_seed0'}


@pytest.mark.parametrize('model', sorted(RUN))
def test_one_batch_run_writes_a_grid_and_a_checkpoint(run_main, tmp_path, model):
    run_main(f'--model={model}', '--max_steps=1', '--batch_size=8')
    assert (tmp_path / 'samples' / RUN[model] / 'epoch_001.png').stat().st_size > 0
    ckpt = tmp_path / 'ckpt' / RUN[model]
    assert (ckpt / 'checkpoint').exists() and list(ckpt.glob('ckpt-1.index'))
    rows = list(csv.DictReader((ckpt / 'losses.csv').open()))
    assert len(rows) == 1 and float(rows[0]['d_loss']) > 0


def test_threads_flag_sets_tensorflows_thread_pools(run_main):
    done = run_main('--model=lsgan', '--max_steps=1', '--batch_size=8', '--threads=1')
    assert 'CPU (' in done.stderr and ', 1 threads)' in done.stderr


def test_xla_step_runs(run_main, tmp_path):
    run_main('--model=lsgan_reg', '--max_steps=1', '--batch_size=8', '--xla')
    assert (tmp_path / 'samples' / RUN['lsgan_reg'] / 'epoch_001.png').exists()


def test_rerun_resumes_at_the_next_epoch(run_main, tmp_path):
    import train

    def finished(*args):  # as run_study.sh asks it of a grid line
        return train.finished(flags.config_of(['main.py', '--train_size=1000', '--batch_size=500',
                                               f'--checkpoint_dir={tmp_path / "ckpt"}', *args]))

    samples = tmp_path / 'samples' / RUN['lsgan_reg']
    assert not finished('--epochs=1')
    run_main('--epochs=1', '--batch_size=500')  # 1,000 images: 2 steps per epoch
    assert finished('--epochs=1') and finished('--epochs=2', '--max_steps=2')
    assert not finished('--epochs=2') and not finished('--epochs=1', '--seed=1')
    first_grid = (samples / 'epoch_001.png').read_bytes()
    second = run_main('--epochs=2', '--batch_size=500')
    assert f'Resuming {RUN["lsgan_reg"]} from step 2 (epoch 2, batch 0 of 2)' in second.stderr
    assert re.search(r'Finished .* peak RSS \d+\.\d\d GB', second.stderr)
    assert (samples / 'epoch_001.png').read_bytes() == first_grid  # epoch 1 was not redone
    assert (samples / 'epoch_002.png').exists()
    rows = list(csv.DictReader((tmp_path / 'ckpt' / RUN['lsgan_reg'] / 'losses.csv').open()))
    assert [(r['step'], r['epoch']) for r in rows] == [('1', '1'), ('2', '1'), ('3', '2'), ('4', '2')]
    assert 'nothing to do' in run_main('--epochs=2', '--batch_size=500').stderr
    assert finished('--epochs=2')
    log = (tmp_path / 'ckpt' / RUN['lsgan_reg'] / 'train.log').read_text()  # the run's own log
    assert log.count(f'Training {RUN["lsgan_reg"]} on ') == 2 and log.count('Finished ') == 2
    assert log.index('Resuming') < log.rindex('Finished') < log.index('nothing to do')
    with (samples / 'final_1000.npz').open('rb') as file:  # the finished run's samples
        import numpy as np
        final = np.load(file)['x']
    assert final.shape == (1000, 28, 28) and final.dtype == np.uint8


def test_resuming_with_other_parameters_is_refused(run_main, tmp_path):
    run_main('--max_steps=1', '--batch_size=8')
    refused = run_main('--max_steps=2', '--batch_size=16', f'--run_name={RUN["lsgan_reg"]}',
                       check=False)
    assert refused.returncode == 2
    assert 'batch_size=8' in refused.stderr and 'batch_size=16' in refused.stderr
    assert list((tmp_path / 'ckpt' / RUN['lsgan_reg']).glob('ckpt-1.index'))  # earlier run intact


def test_bad_flag_exits_2_with_one_line(run_main):
    done = run_main('--model=nosuchgan', check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith('main.py: error: flag --model=nosuchgan')


@pytest.mark.parametrize('argv, message', [
    (['--model=dcgan'], 'value should be one of'),
    (['--batch_size=0'], '--batch_size must be at least 1'),
    (['--sample_size=10'], 'perfect square'),
    (['--a=1', '--b=1'], '--a and --b must differ'),
    (['--lam=-0.1'], '--lam must be a non-negative number'),
    (['--lr=0'], '--lr must be a positive number'),
    (['--beta1=1'], '--beta1 must be in [0, 1)'),
    (['--epochs=0'], '--epochs must be at least 1'),
    (['--n_critic=0'], '--n_critic must be at least 1'),
    (['--model=wgan', '--clip=-0.01'], '--clip must be a positive number'),
    (['--model=wgan_gp', '--gp_lambda=0'], '--gp_lambda must be a positive number'),
    (['--label_smoothing=0.1'], 'apply to --model=improved_gan only'),
    (['--checkpoint_every=-1'], '--checkpoint_every must be >= 0'),
    (['--train_size=-5'], '--train_size must be >= 0'),
    (['--threads=-1'], '--threads must be >= 0'),
    (['--precision=mixed', '--xla'], 'drop --xla'),
    (['--arch=vgg'], 'value should be one of'),
    (['--gradcheck_discriminators=lsgan,began'], '--gradcheck_discriminators must be'),
    (['--lr=nan'], '--lr must be a positive number'),
    (['--sample_dir={a_file}/samples'], 'must be writable'),
])
def test_flag_validation(argv, message, capsys, tmp_path):
    (tmp_path / 'a_file').write_text('')
    argv = [arg.format(a_file=tmp_path / 'a_file') for arg in argv]
    try:
        with pytest.raises(SystemExit) as exit_info:
            flags.parse_or_exit(['main.py', *argv])
    finally:
        flags.FLAGS.unparse_flags()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1


def test_default_flags_give_the_default_config_and_the_slides_experiment():
    try:
        flags.parse_or_exit(['main.py'])
        cfg = flags.to_config()
    finally:
        flags.FLAGS.unparse_flags()
    assert cfg == config.Config()
    assert config.run_name(cfg) == 'lsgan_reg_a-1_b1_c0_lam0.5_seed0'
    assert (cfg.arch, cfg.train_size, cfg.epochs, cfg.batch_size, cfg.z_dim, cfg.lr, cfg.beta1,
            cfg.xla, cfg.precision) == ('dcgan', 0, 20, 64, 100, 1e-4, 0.5, False, 'float32')


def test_run_name_carries_every_setting_off_its_default():
    cfg = config.Config(model='wgan_gp', protocol='paper', arch='infogan', train_size=500,
                        precision='mixed', seed=3)
    assert config.run_name(cfg) == 'wgan_gp_paper_infogan_n500_mixed_seed3'
    assert config.run_name(config.Config(model='gan', gan_loss='ns')) == 'gan_ns_seed0'
    off_scheme = config.Config(model='lsgan', c=1.0, critic_norm='none', lr=1e-3)
    assert config.run_name(off_scheme) == 'lsgan_a-1_b1_c1_lr0.001_critic_norm-none_seed0'
    # A setting that does not act on the model leaves the name alone, and so do the protocol's
    # own settings for it (wgan's RMSProp and critic warm-up here).
    assert config.run_name(off_scheme.replace(clip=0.5)) == config.run_name(off_scheme)
    assert config.run_name(config.Config(model='wgan', protocol='paper')) == 'wgan_paper_seed0'


def test_gradient_log_splits_the_regularized_loss(tiny_config):
    """G's gradient is the sum of its parts' gradients: with lambda = 0 the regularizer's part
    is zero and the LSGAN part is all of it. At step 1 (the same weights and z for every
    lambda) the LSGAN part does not depend on lambda and the regularizer's part is linear in it."""
    import train
    import utils

    def gradient_rows(lam):  # in this process: three runs share one TensorFlow start-up
        cfg = tiny_config(model='lsgan_reg', max_steps=3, batch_size=8, grad_every=1, lam=lam)
        train.train(cfg)
        return utils.read_csv(f'{cfg.checkpoint_dir}/{config.run_name(cfg)}/gradients.csv')

    rows = gradient_rows(0.0)
    assert [r['step'] for r in rows] == ['1', '2', '3']
    for r in rows:
        assert float(r['g_grad_norm_reg']) == 0
        assert float(r['g_grad_norm']) == pytest.approx(float(r['g_grad_norm_lsgan']), rel=1e-5)
        assert float(r['d_grad_x_norm']) > 0
    first = {lam: gradient_rows(lam)[0] for lam in (5, 10)}
    assert float(first[5]['g_grad_norm_lsgan']) == pytest.approx(float(rows[0]['g_grad_norm_lsgan']), rel=1e-5)
    assert float(first[10]['g_grad_norm_reg']) == pytest.approx(2 * float(first[5]['g_grad_norm_reg']), rel=1e-4)
    assert float(first[10]['d_grad_x_norm']) == pytest.approx(float(rows[0]['d_grad_x_norm']), rel=1e-5)
    for r in first.values():  # the norm of a sum: between the difference and the sum of its parts
        total, lsgan, reg = (float(r[k]) for k in ('g_grad_norm', 'g_grad_norm_lsgan', 'g_grad_norm_reg'))
        assert abs(lsgan - reg) - 1e-5 <= total <= lsgan + reg + 1e-5 and reg > 0


def test_run_json_records_precision_cpu_and_threads(run_main, tmp_path):
    import gan_step
    run_main('--model=lsgan', '--max_steps=1', '--batch_size=8', '--precision=mixed',
             '--threads=1')
    record = json.loads((tmp_path / 'ckpt' / 'lsgan_a-1_b1_c0_n1000_mixed_seed0' / 'run.json').read_text())
    has_bf16 = bool(gan_step.cpu_flags() & set(gan_step.BF16_CPU_FLAGS))
    assert record['precision'] == 'mixed'
    assert record['computes_in'] == ('bfloat16' if has_bf16 else 'float32')
    assert record['cpu'] == gan_step.cpu_line()  # the vector units its speed depends on
    cores = len(os.sched_getaffinity(0))  # and the threads: runs side by side share the cores
    assert record['device'] == f'CPU ({cores} cores, 1 threads)'


@pytest.mark.skipif(platform.machine() not in ('x86_64', 'AMD64'), reason='an x86 CPU')
def test_onednn_is_on_unless_the_user_turns_it_off(run_main, tmp_path, monkeypatch):
    """TensorFlow leaves oneDNN's kernels off on an AVX2-only CPU; main.py turns them on, as
    TensorFlow does itself on the CPUs the study trained on, and TF_ENABLE_ONEDNN_OPTS=0 wins."""
    def trained(name):
        run_main('--model=lsgan', '--max_steps=1', '--batch_size=8', f'--run_name={name}')
        record = json.loads((tmp_path / 'ckpt' / name / 'run.json').read_text())
        first = (tmp_path / 'ckpt' / name / 'train.log').read_text()
        return record['onednn'], 'oneDNN on' in first, 'oneDNN off' in first

    monkeypatch.delenv('TF_ENABLE_ONEDNN_OPTS', raising=False)
    assert trained('unset') == (True, True, False)
    monkeypatch.setenv('TF_ENABLE_ONEDNN_OPTS', '0')
    assert trained('off') == (False, False, True)


def test_cpu_line_names_the_vector_units_the_cpu_has(monkeypatch):
    import gan_step
    monkeypatch.setattr(gan_step, 'cpu_flags', lambda: {'fpu', 'avx512_bf16', 'avx2', 'sse2'})
    monkeypatch.setattr(gan_step, '_cpuinfo_field', lambda name: {'model name': 'Some CPU'}.get(name, ''))
    assert gan_step.cpu_line() == 'Some CPU: avx2 avx512_bf16'
    monkeypatch.setattr(gan_step, 'cpu_flags', lambda: {'sse2'})
    assert gan_step.cpu_line() == 'Some CPU: no AVX2'
    fields = {'model name': 'Some CPU', 'cpu family': '26', 'model': '2'}
    monkeypatch.setattr(gan_step, '_cpuinfo_field', lambda name: fields.get(name, ''))
    assert gan_step.cpu_line() == 'Some CPU (family 26, model 2): no AVX2'


def test_mixed_precision_without_16_bit_units_warns_and_uses_float32(monkeypatch):
    import gan_step
    warned = []
    monkeypatch.setattr(gan_step, 'cpu_flags', lambda: {'avx2'})
    monkeypatch.setattr(gan_step.logging, 'warning', warned.append)
    assert gan_step.set_precision('mixed') == 'float32'
    assert 'neither AVX512_BF16 nor AMX' in warned[0]


def test_progress_eta_follows_a_smoothed_rate_and_shows_the_recent_one(monkeypatch):
    import train
    clock = iter([0.0, 10.0, 110.0])  # 100 steps in 10 s, then 100 steps in 100 s (a pause)
    monkeypatch.setattr(train.time, 'perf_counter', lambda: next(clock))
    progress = train.Progress(0, 1000)
    first = progress.line(100, 1, {'g_loss': 0.5})
    assert first.endswith('g_loss 0.5000  10.00 steps/s  ETA 1 min 30 s')  # 900 steps at 10/s
    # The smoothed rate moves a tenth of the way to 1/s: 9.1/s, so 800 steps take 87.9 s.
    assert progress.line(200, 1, {'g_loss': 0.5}).endswith('1.00 steps/s  ETA 1 min 28 s')
