"""Sample grids, the run record and the loss log."""
import csv

import imageio.v3 as iio
import numpy as np
import pytest

import utils


def test_grid_places_image_i_at_row_i_div_k_column_i_mod_k(tmp_path):
    images = np.stack([np.full((28, 28, 1), v) for v in np.linspace(-1, 1, 9)])
    path = tmp_path / 'grid.png'
    utils.save_grid(images, path)
    grid = iio.imread(path)
    assert grid.shape == (84, 84) and grid.dtype == np.uint8
    for i, value in enumerate(np.linspace(-1, 1, 9)):
        cell = grid[(i // 3) * 28:(i // 3 + 1) * 28, (i % 3) * 28:(i % 3 + 1) * 28]
        assert np.all(cell == round((value + 1) * 127.5))
    assert not list(tmp_path.glob('.*tmp'))  # no temporary file left behind


def test_grid_rejects_a_non_square_count():
    with pytest.raises(ValueError, match='square'):
        utils.image_grid(np.zeros((6, 28, 28)))


def test_run_record_refuses_a_changed_parameter(tmp_path):
    path = tmp_path / 'run.json'
    utils.check_or_record_run(path, {'model': 'lsgan_reg', 'lam': 0.5, 'epochs': 20}, ['model', 'lam'])
    utils.check_or_record_run(path, {'model': 'lsgan_reg', 'lam': 0.5, 'epochs': 40}, ['model', 'lam'])
    with pytest.raises(utils.RunMismatch, match="lam=0.5.*lam=1.0"):
        utils.check_or_record_run(path, {'model': 'lsgan_reg', 'lam': 1.0}, ['model', 'lam'])


def test_a_resumed_csv_log_is_whole_on_disk_before_any_flush(tmp_path):
    path = tmp_path / 'metrics.csv'
    log = utils.CsvLog(path, ['step', 'fid'], resume_step=0)
    for step in (1, 2):
        log.write({'step': step, 'fid': 100 - step})
    log.close()
    resumed = utils.CsvLog(path, ['step', 'fid'], resume_step=2)
    resumed.write({'step': 3, 'fid': 1})  # buffered: as if the process were killed now
    rows = list(csv.DictReader(path.open()))
    assert [int(r['step']) for r in rows] == [1, 2]
    resumed.close()


def test_csv_log_drops_rows_past_the_resumed_step(tmp_path):
    path = tmp_path / 'losses.csv'
    log = utils.CsvLog(path, ['step', 'loss'], resume_step=0)
    for step in range(1, 6):
        log.write({'step': step, 'loss': step / 10})
    log.close()
    log = utils.CsvLog(path, ['step', 'loss'], resume_step=3)  # the checkpoint was at step 3
    log.write({'step': 4, 'loss': 99})
    log.close()
    rows = list(csv.DictReader(path.open()))
    assert [int(r['step']) for r in rows] == [1, 2, 3, 4] and rows[-1]['loss'] == '99'
