"""Metrics on cases with known answers, the classifier cache, and the eval/generate modes."""
import numpy as np
import pytest
import scipy.linalg

import flags
import main
import metrics


def random_psd(rng, d):
    a = rng.normal(size=(d, 2 * d))
    return a @ a.T / (2 * d)


def test_frechet_distance_of_identical_statistics_is_zero():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, 16))
    mu, sigma = features.mean(0), np.cov(features, rowvar=False)
    assert metrics.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_has_its_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    s1, s2 = random_psd(rng, 8), random_psd(rng, 8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    reference = (np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2)
                 - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)


def test_score_of_one_hot_predictions_is_the_number_of_classes_used():
    for used in (1, 3, 10):
        probs = np.eye(10)[np.arange(600) % used]
        assert metrics.classifier_score(probs) == pytest.approx(used, rel=1e-6)


def test_collapsed_and_balanced_histograms():
    collapsed = metrics.class_histogram(np.eye(10)[np.full(500, 7)])
    assert metrics.classes_covered(collapsed) == 1
    assert metrics.kl_to_uniform(collapsed) == pytest.approx(np.log(10))
    balanced = metrics.class_histogram(np.eye(10)[np.arange(500) % 10])
    assert metrics.classes_covered(balanced) == 10
    assert metrics.kl_to_uniform(balanced) == pytest.approx(0, abs=1e-9)


@pytest.fixture
def quick_classifier(monkeypatch):
    """The classifier trained for one epoch: the caching logic, not its accuracy, is tested."""
    trained = []
    original = metrics.train_network

    def quick(images, labels):
        trained.append(len(images))
        return original(images, labels, epochs=1)

    monkeypatch.setattr(metrics, 'train_network', quick)
    return trained


def test_classifier_is_cached_and_retrained_only_when_its_data_changes(tmp_path, quick_classifier):
    import data
    images, labels, _ = data.load_training_images('mnist', download=False)
    images, labels = images[::10], labels[::10]
    first = metrics.Scorer(images, labels, tmp_path, 'mnist')
    again = metrics.Scorer(images, labels, tmp_path, 'mnist')
    assert quick_classifier == [1000]  # the second scorer loaded the cache
    samples = images[:200, ..., None].astype(np.float32) / 127.5 - 1
    assert first.score(samples) == again.score(samples)
    assert (first.directory / 'info.json').exists()
    metrics.Scorer(images[:-1], labels[:-1], tmp_path, 'mnist')
    assert quick_classifier == [1000, 999]  # other data: a new classifier


def test_eval_and_generate_modes(tmp_path, monkeypatch, quick_classifier, capsys):
    import data
    monkeypatch.setattr(data, 'KERAS_DATASETS', tmp_path / 'keras')
    common = ['main.py', '--model=lsgan', '--nodownload', '--noxla', '--gf_dim=4', '--df_dim=4',
              '--sample_size=4', '--batch_size=16', f'--sample_dir={tmp_path}/s',
              f'--checkpoint_dir={tmp_path}/c']

    def run(*argv):
        try:
            flags.parse_or_exit([*common, *argv])
            main.main([])
        finally:
            flags.FLAGS.unparse_flags()

    run('--max_steps=2', '--eval_n=100')
    run('--mode=generate', '--n=30', f'--out={tmp_path}/gen.npz')
    with np.load(tmp_path / 'gen.npz') as archive:
        assert archive['x'].shape == (30, 28, 28) and archive['x'].dtype == np.uint8
    capsys.readouterr()
    run('--mode=eval', '--eval_n=100')
    out = capsys.readouterr().out
    assert '"step": 2' in out and '"fid"' in out
    metrics_csv = (tmp_path / 'c' / 'lsgan_a-1_b1_c0_seed0' / 'metrics.csv').read_text().splitlines()
    assert metrics_csv[0].startswith('step,epoch,fid,classifier_score') and len(metrics_csv) == 2
