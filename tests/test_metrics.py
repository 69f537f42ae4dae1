"""Metrics on cases with known answers, the classifier cache, and the eval/generate modes."""
import json

import numpy as np
import pytest
import scipy.linalg

import config
import evaluate
import gan_step
import metrics
import train


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


def test_score_of_soft_predictions_is_exp_of_the_mutual_information():
    """exp(H(p(y)) - E_x H(p(y|x))): two confident, opposite predictions over two classes."""
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    entropy = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    assert metrics.classifier_score(probs) == pytest.approx(np.exp(np.log(2) - entropy), rel=1e-9)
    assert metrics.classifier_score(np.full((4, 10), 0.1)) == pytest.approx(1.0)


def test_collapsed_and_balanced_histograms():
    collapsed = metrics.class_histogram(np.eye(10)[np.full(500, 7)])
    assert metrics.classes_covered(collapsed) == 1
    assert metrics.kl_to_uniform(collapsed) == pytest.approx(np.log(10))
    balanced = metrics.class_histogram(np.eye(10)[np.arange(500) % 10])
    assert metrics.classes_covered(balanced) == 10
    assert metrics.kl_to_uniform(balanced) == pytest.approx(0, abs=1e-9)


def test_precision_recall_density_coverage_of_identical_sets():
    points = np.random.default_rng(2).normal(size=(300, 8)).astype(np.float32)
    found = metrics.manifold_metrics(points, points, pr_k=3, dc_k=5)
    assert (found['precision'], found['recall'], found['coverage']) == (1.0, 1.0, 1.0)
    # Each point lies in its own ball and in those of the neighbours that count it among their
    # k nearest: on average k + 1 balls, so density (k + 1) / k.
    assert found['density'] == pytest.approx(6 / 5, rel=1e-6)


def test_disjoint_sets_score_zero():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 4)).astype(np.float32)
    fake = real + 100.0
    assert metrics.manifold_metrics(real, fake) == {'precision': 0.0, 'recall': 0.0,
                                                     'density': 0.0, 'coverage': 0.0}


def test_a_subset_is_precise_but_does_not_recall_or_cover():
    """Generated points = the real points of one of two far-apart clusters."""
    rng = np.random.default_rng(4)
    left, right = rng.normal(size=(150, 2)), rng.normal(size=(150, 2)) + 50.0
    real = np.concatenate([left, right]).astype(np.float32)
    fake = left.astype(np.float32)
    found = metrics.manifold_metrics(real, fake, pr_k=3, dc_k=5)
    assert found['precision'] == 1.0 and found['recall'] == pytest.approx(0.5)
    assert found['coverage'] == pytest.approx(0.5)


def test_manifold_metrics_match_their_definitions_on_the_full_distance_matrix():
    """The one chunked pass against the four definitions written out on the whole matrix, on
    sets larger than one chunk and partly overlapping."""
    rng = np.random.default_rng(6)
    real = rng.normal(size=(1300, 5)).astype(np.float32)
    fake = (rng.normal(size=(1100, 5)) * 1.3 + 0.4).astype(np.float32)

    def distances(a, b):
        return np.sqrt(((a[:, None].astype(np.float64) - b[None]) ** 2).sum(-1))

    def radii(points, k):  # the point itself is the first of its k + 1 nearest
        return np.sort(distances(points, points), axis=1)[:, k]

    fake_to_real = distances(fake, real)
    expected = {
        'precision': np.mean(np.any(fake_to_real <= radii(real, 3)[None], axis=1)),
        'recall': np.mean(np.any(fake_to_real.T <= radii(fake, 3)[None], axis=1)),
        'density': np.sum(fake_to_real <= radii(real, 5)[None]) / (5 * len(fake)),
        'coverage': np.mean(fake_to_real.min(axis=0) <= radii(real, 5)),
    }
    found = metrics.manifold_metrics(real, fake, pr_k=3, dc_k=5)
    assert 0.05 < expected['precision'] < 0.95 and 0.05 < expected['coverage'] < 0.95
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, abs=1e-12), name


def test_chunked_neighbour_distances_match_a_direct_computation():
    points = np.random.default_rng(5).normal(size=(2500, 6)).astype(np.float32)  # > one chunk
    full = np.sqrt(((points[:, None].astype(np.float64) - points[None]) ** 2).sum(-1))
    expected = np.sort(full, axis=1)[:, 3]
    np.testing.assert_allclose(metrics.kth_neighbour_distance(points, 3), expected, rtol=1e-4,
                               atol=1e-4)


@pytest.fixture
def quick_classifier(monkeypatch):
    """The classifier trained for one epoch: the caching logic, not its accuracy, is tested."""
    trained = []
    original = metrics.train_network

    def quick(found, seed=0):
        trained.append(len(found.x_train))
        return original(found, epochs=1, seed=seed)

    monkeypatch.setattr(metrics, 'train_network', quick)
    monkeypatch.setattr(metrics, 'FLOOR_N', 200)
    return trained


def small_data(n=1000):
    import data
    found = data.load('mnist', download=False)
    return found._replace(x_train=found.x_train[:n], y_train=found.y_train[:n],
                          x_test=found.x_test[:500], y_test=found.y_test[:500])


def test_classifier_is_cached_and_retrained_only_when_its_data_changes(tmp_path, quick_classifier):
    found = small_data()
    first = metrics.Scorer(found, tmp_path)
    again = metrics.Scorer(found, tmp_path)
    assert quick_classifier == [1000]  # the second scorer loaded the cache
    samples = metrics.to_float(found.x_train[:200])
    assert first.score(samples) == again.score(samples)
    assert set(first.info['real_floor']) == set(metrics.NAMES)
    assert first.info['n_test'] == 500 and 0 <= first.info['test_accuracy'] <= 1
    metrics.Scorer(small_data(999), tmp_path)
    assert quick_classifier == [1000, 999]  # other data: a new classifier


def test_eval_and_generate_modes(tiny_config, quick_classifier, monkeypatch, capsys):
    import data
    small = small_data()
    monkeypatch.setattr(data, 'load_or_fail', lambda cfg: (small, small.x_train, small.y_train))
    cfg = tiny_config(model='lsgan', batch_size=16, max_steps=2, eval_n=100)
    train.train(cfg)
    out = f'{cfg.sample_dir}/gen.npz'
    evaluate.generate(cfg.replace(n=30, out=out))
    with np.load(out) as archive:
        assert archive['x'].shape == (30, 28, 28) and archive['x'].dtype == np.uint8
    capsys.readouterr()
    evaluate.evaluate(cfg)
    printed = capsys.readouterr().out
    assert '"step": 2' in printed and '"fid"' in printed and '"coverage"' in printed
    run_dir = f'{cfg.checkpoint_dir}/{config.run_name(cfg)}'
    metrics_csv = open(f'{run_dir}/metrics.csv').read().splitlines()
    assert metrics_csv[0].startswith('step,epoch,fid,classifier_score,precision') and len(metrics_csv) == 2


def test_metrics_of_a_training_run_are_the_scores_of_its_checkpoints_samples(
        tiny_config, quick_classifier, monkeypatch):
    """A 2-epoch run with metrics at every epoch: metrics.csv's last FID is the score of the
    final checkpoint's samples of the fixed evaluation z, final.json's second FID that of the
    second z set (another number), and final_1000.npz holds those samples."""
    import data
    import utils
    small = small_data()
    monkeypatch.setattr(data, 'load_or_fail', lambda cfg: (small, small.x_train, small.y_train))
    cfg = tiny_config(model='lsgan_reg', batch_size=100, epochs=2, eval_every=1, eval_n=200)
    train.train(cfg)
    run_dir = f'{cfg.checkpoint_dir}/{config.run_name(cfg)}'
    rows = utils.read_csv(f'{run_dir}/metrics.csv')
    assert [int(r['epoch']) for r in rows] == [1, 2] and int(rows[-1]['step']) == 20
    final = json.loads(open(f'{run_dir}/final.json').read())

    state = train.restore_state(cfg, run_dir)
    assert int(state.step) == 20
    sample = gan_step.make_sampler(state.players.G)
    images = train.generate(sample, train.eval_z(cfg, train.FINAL_N))
    scorer = metrics.Scorer(small, cfg.checkpoint_dir)
    fid = scorer.score(images[:cfg.eval_n])['fid']
    second = scorer.score(train.generate(sample, train.eval_z(cfg, cfg.eval_n, z_set=2)))['fid']
    assert float(rows[-1]['fid']) == pytest.approx(fid, rel=1e-6)
    assert final['fid'] == pytest.approx(fid, rel=1e-6)
    assert final['fid_second_z'] == pytest.approx(second, rel=1e-6)
    assert abs(final['fid_second_z'] - final['fid']) > 1e-5 * fid  # another z set, another score
    with np.load(f'{cfg.sample_dir}/{config.run_name(cfg)}/final_1000.npz') as archive:
        saved = archive['x'].astype(int)
    expected = utils.to_uint8(images)[..., 0].astype(int)
    assert saved.shape == expected.shape == (1000, 28, 28)
    assert np.abs(saved - expected).max() <= 1 and np.mean(saved != expected) < 1e-3


def test_a_classifier_of_another_seed_is_another_network(tmp_path, quick_classifier):
    found = small_data()
    first, other = metrics.Scorer(found, tmp_path), metrics.Scorer(found, tmp_path, seed=1)
    assert quick_classifier == [1000, 1000] and first.directory != other.directory
    assert any((a.numpy() != b.numpy()).any() for a, b in zip(first.net.all_weights, other.net.all_weights))


@pytest.mark.parametrize('seed', [0, 2])
def test_exported_weights_are_the_shipped_weights_of_their_data_and_seed_only(
        tmp_path, monkeypatch, seed):
    net = metrics.classifier_network()
    monkeypatch.setattr(metrics, 'SHIPPED_DIR', tmp_path)
    assert metrics.shipped_weights('abc', seed) is None  # nothing shipped
    metrics.export_weights(net, 'abc', metrics.shipped_path(seed))
    weights, _ = metrics.shipped_weights('abc', seed)
    for shipped, own in zip(weights, net.all_weights, strict=True):
        np.testing.assert_array_equal(shipped, own.numpy())
    assert metrics.shipped_weights('other data', seed) is None
    assert metrics.shipped_weights('abc', 1) is None  # another seed's file


@pytest.mark.parametrize('seed, accuracy, floor_fid', [(0, 0.9923, 3.73), (1, 0.9920, 3.76),
                                                       (2, 0.9925, 4.31)])
def test_the_shipped_classifiers_score_the_full_mnist_without_training(
        tmp_path, monkeypatch, seed, accuracy, floor_fid):
    """data/classifier.npz and data/classifier_seed<k>.npz are used as they are (training would
    fail here), and their test accuracy and real-data floor are those data/README.md records."""
    import data

    def no_training(*args, **kwargs):
        raise AssertionError('the shipped classifier should have been used')

    monkeypatch.setattr(metrics, 'train_network', no_training)
    scorer = metrics.Scorer(data.load('mnist', download=False), tmp_path, seed=seed)
    assert scorer.info['classifier'].startswith('shipped_')
    assert scorer.info['test_accuracy'] == pytest.approx(accuracy, abs=1e-4)
    assert scorer.info['real_floor']['fid'] == pytest.approx(floor_fid, abs=0.005)


def test_rescore_scores_every_final_sample_file_under_each_classifier(
        tiny_config, quick_classifier, monkeypatch):
    import data
    import utils
    small = small_data()
    monkeypatch.setattr(data, 'load_or_fail', lambda cfg: (small, small.x_train, small.y_train))
    cfg = tiny_config(classifier_seeds=(0, 1))
    noise = np.random.default_rng(0).integers(0, 256, (300, 28, 28), dtype=np.uint8)
    for run, images in (('digits_seed0', small.x_train[-300:]), ('noise_seed0', noise)):
        train.save_samples(metrics.to_float(images), f'{cfg.sample_dir}/{run}/final_1000.npz')
    train.save_samples(metrics.to_float(noise), f'{cfg.sample_dir}/noise_seed0/samples_1000_epoch_003.npz')
    evaluate.rescore(cfg)
    rows = utils.read_csv(f'{cfg.sample_dir}/{evaluate.FINAL_SCORES}')
    fid = {(r['run'], int(r['classifier'])): float(r['fid']) for r in rows}
    assert len(rows) == 6 and {r['n'] for r in rows if r['run'] != 'real_digits'} == {'300'}
    for classifier in (0, 1):  # real digits are closer to the test digits than noise is
        assert fid['digits_seed0', classifier] < fid['noise_seed0', classifier]
        assert fid['real_digits', classifier] < fid['noise_seed0', classifier]
    expected = metrics.Scorer(small, cfg.checkpoint_dir, seed=1).score(metrics.to_float(noise))['fid']
    assert fid['noise_seed0', 1] == pytest.approx(expected)
    early = utils.read_csv(f'{cfg.sample_dir}/{evaluate.EARLY_SCORES}')  # under classifier 0 only
    assert [(r['run'], r['epoch'], r['classifier']) for r in early] == [('noise_seed0', '3', '0')]
    assert float(early[0]['fid']) == pytest.approx(fid['noise_seed0', 0])  # the same samples


def test_rescore_without_final_samples_fails_in_one_line(tiny_config, capsys):
    with pytest.raises(SystemExit) as stop:
        evaluate.rescore(tiny_config())
    assert stop.value.code == 2 and 'final_1000.npz' in capsys.readouterr().err
