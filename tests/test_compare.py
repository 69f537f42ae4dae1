"""--mode=compare draws its figures from what runs leave on disk."""
import imageio.v3 as iio
import numpy as np
import pytest

import flags
import main
import utils


def fake_run(tmp_path, run, epochs=2):
    for epoch in range(1, epochs + 1):
        utils.save_grid(np.full((4, 28, 28, 1), epoch / epochs - 0.5),
                        tmp_path / 's' / run / f'epoch_{epoch:03d}.png')
    log = utils.CsvLog(tmp_path / 'c' / run / 'losses.csv',
                       ['step', 'epoch', 'd_loss', 'g_loss', 'wall_s'], resume_step=0)
    for step in range(1, 2 * epochs + 1):
        log.write({'step': step, 'epoch': (step + 1) // 2, 'd_loss': 1 / step, 'g_loss': step,
                   'wall_s': step * 0.5})
    log.close()
    log = utils.CsvLog(tmp_path / 'c' / run / 'gradients.csv',
                       ['step', 'epoch', 'g_grad_norm', 'd_grad_x_norm'], resume_step=0)
    for step in range(1, 2 * epochs + 1):
        log.write({'step': step, 'epoch': (step + 1) // 2, 'g_grad_norm': 1 / step,
                   'd_grad_x_norm': step})
    log.close()


def compare_in_process(tmp_path, *argv):
    try:
        flags.parse_or_exit(['main.py', '--mode=compare', '--epochs=2', '--figure2_epochs=1,2',
                             f'--sample_dir={tmp_path}/s', f'--checkpoint_dir={tmp_path}/c',
                             f'--out_dir={tmp_path}/out', *argv])
        runs = {m: flags.run_name(model=m) for m in flags.MODELS}
        main.main([])
    finally:
        flags.FLAGS.unparse_flags()
    return runs


def test_compare_writes_the_figures(tmp_path):
    for model in flags.MODELS:
        try:
            flags.parse_or_exit(['main.py', f'--model={model}'])
            fake_run(tmp_path, flags.run_name())
        finally:
            flags.FLAGS.unparse_flags()
    compare_in_process(tmp_path)
    out = tmp_path / 'out'
    for path in (out / 'seed0' / 'figure1.png', out / 'seed0' / 'figure2.png',
                 out / 'seed0' / 'losses.png', out / 'seed0' / 'gradients.png',
                 out / 'metrics.png'):
        image = iio.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.std() > 0
    assert iio.imread(out / 'seed0' / 'lsgan_reg.gif').shape[0] == 2  # one frame per epoch


def test_results_table_is_mean_and_std_over_seeds(tmp_path):
    import compare
    runs_by_seed = {}
    for seed, fid in ((0, 10.0), (1, 14.0)):
        runs_by_seed[seed] = {m: f'{m}_seed{seed}' for m in flags.MODELS}
        log = utils.CsvLog(tmp_path / f'lsgan_seed{seed}' / 'metrics.csv',
                           ['step', 'epoch', 'fid', 'classifier_score', 'classes_covered',
                            'kl_uniform'], resume_step=0)
        log.write({'step': 5, 'epoch': 2, 'fid': fid, 'classifier_score': 9.0,
                   'classes_covered': 10, 'kl_uniform': 0.01})
        log.close()
    table = compare.results_table(runs_by_seed, tmp_path, epoch=2)
    assert '| LSGAN | 2 | 12.00 +- 2.83 | 9.00 +- 0.00 | 10.00 +- 0.00 | 0.01 +- 0.00 |' in table
    assert '| WGAN | 0 |' in table


def test_compare_names_the_missing_grids(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        compare_in_process(tmp_path)
    assert stop.value.code == 2
    assert 'missing sample grids' in capsys.readouterr().err
