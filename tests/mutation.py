"""Mutation check: does the test suite catch a wrong method, not only a crash?

Each mutant below is a one-line change to the method (a loss wired to the wrong scores or
setting, the wrong tape or player in the step, the critic schedule, the regularizer's
stop-gradient, the evaluation z sets, the resume state, the study runner). For each, this
copies the checkout to a temporary folder, applies the change, and runs the tests that guard
that part; a mutant whose tests all pass "survives", and the script exits 1 naming it.

    python tests/mutation.py            # every mutant (about 25 minutes on 2 busy cores)
    python tests/mutation.py --list     # the mutants, one a line
    python tests/mutation.py 3 7        # mutants 3 and 7 only

Not part of the default test run (pytest collects test_*.py only).
"""
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
FORMULAS = 'tests/test_method.py::test_each_loss_term_is_its_formula_and_differentiates_through_the_right_scores'
STEP = 'tests/test_method.py'
RUN_METRICS = 'tests/test_metrics.py::test_metrics_of_a_training_run_are_the_scores_of_its_checkpoints_samples'
RESUME = 'tests/test_robustness.py::test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run'


class Mutant(NamedTuple):
    what: str
    path: str
    old: str
    new: str
    tests: tuple


MUTANTS = [
    Mutant('LSGAN D: real and generated scores swapped (D learns real -> a, fake -> b)',
           'registry.py', 'lsgan_discriminator_loss(p.d_real, p.d_fake,',
           'lsgan_discriminator_loss(p.d_fake, p.d_real,', (FORMULAS,)),
    Mutant('LSGAN G: target a instead of c', 'registry.py',
           'lsgan_generator_loss(p.d_fake, cfg.c)', 'lsgan_generator_loss(p.d_fake, cfg.a)', (FORMULAS,)),
    Mutant('lsgan_reg: the regularizer term dropped', 'registry.py',
           "'reg': cfg.lam * losses", "'reg': 0.0 * cfg.lam * losses", (FORMULAS,)),
    Mutant('lsgan_reg: the regularizer without its stop-gradient on E[D(x)]', 'losses.py',
           'tf.stop_gradient(tf.reduce_mean(d_real))', 'tf.reduce_mean(d_real)', (FORMULAS,)),
    Mutant('GAN D: label smoothing ignored', 'registry.py',
           '1.0 - cfg.label_smoothing)', '1.0)', (FORMULAS,)),
    Mutant('Improved GAN G: the minimax loss instead of the non-saturating one', 'registry.py',
           "    return {'gan': losses.gan_nonsaturating_generator_loss(p.d_fake)}",
           "    return {'gan': losses.gan_minimax_generator_loss(p.d_fake)}", (FORMULAS,)),
    Mutant('WGAN-GP: the penalty weight ignored', 'registry.py',
           "'gp': cfg.gp_lambda *", "'gp': 1.0 *", (FORMULAS,)),
    Mutant("RaLSGAN G: D's loss", 'registry.py',
           "{'ralsgan': losses.ralsgan_generator_loss(p.d_real, p.d_fake)}",
           "{'ralsgan': losses.ralsgan_discriminator_loss(p.d_real, p.d_fake)}", (FORMULAS,)),
    Mutant("step: D's update takes the gradient of d_loss + g_loss (the wrong tape target)",
           'gan_step.py', "tape.gradient(out['d_loss'], D.trainable_weights)",
           "tape.gradient(out['d_loss'] + out['g_loss'], D.trainable_weights)", (STEP,)),
    Mutant("step: G descends D's loss when D is updated too (the wrong player)", 'gan_step.py',
           "tape.gradient(out['g_loss'], G.trainable_weights)",
           "tape.gradient(out.get('d_loss', out['g_loss']), G.trainable_weights)", (STEP,)),
    Mutant('step: WGAN never clips', 'gan_step.py', 'if spec.clips_d:', 'if False:', (STEP,)),
    Mutant("step: Adam's beta1 left at Keras's 0.9", 'gan_step.py',
           'beta_1=cfg.beta1', 'beta_1=0.9', (STEP,)),
    Mutant('critic schedule: G at steps 1, 6, 11 instead of 5, 10, 15', 'gan_step.py',
           'return step % self.cfg.n_critic == 0', 'return step % self.cfg.n_critic == 1', (STEP,)),
    Mutant('alternating schedule: G also steps inside the D call', 'gan_step.py',
           'out = train_step(real, update_d=True, update_g=False, probe=probe)',
           'out = train_step(real, update_d=True, update_g=g_turn, probe=probe)', (STEP,)),
    Mutant('evaluation: the second z set equals the first', 'train.py',
           'np.random.default_rng([cfg.seed, z_set])', 'np.random.default_rng([cfg.seed, 1])',
           (RUN_METRICS,)),
    Mutant('evaluation: metrics of the last eval_n samples, not the first', 'train.py',
           'scores = scorer.score(images[:cfg.eval_n])', 'scores = scorer.score(images[-cfg.eval_n:])',
           (RUN_METRICS,)),
    Mutant('final_1000.npz: samples of the second z set', 'train.py',
           "save_samples(images[:FINAL_N], Path(sample_dir) / f'final_{FINAL_N}.npz')",
           "save_samples(generate(sample, eval_z(cfg, FINAL_N, 2)), Path(sample_dir) / f'final_{FINAL_N}.npz')",
           (RUN_METRICS,)),
    Mutant("resume: the noise generator's state not checkpointed", 'train.py',
           'd_opt=players.d_opt, step=step, noise=noise)', 'd_opt=players.d_opt, step=step)', (RESUME,)),
    Mutant('resume: the data order restarts at every invocation', 'train.py',
           'step, last_step - step))', '0, last_step - step))', (RESUME,)),
    Mutant('runner: a failing run is not reported', 'run_study.sh',
           '((status)) && failed+=', 'false && failed+=',
           ('tests/test_study_grid.py::test_a_failing_run_is_named_the_others_go_on_and_nothing_is_merged',)),
]


def copy_checkout(destination):
    """The files git tracks (and the working tree's edits of them), without run outputs."""
    tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    for name in tracked:
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def survives(mutant, workers):
    """Whether every test of `mutant` passes with it applied to a copy of the checkout."""
    with tempfile.TemporaryDirectory(prefix='mutant_') as tmp:
        copy = Path(tmp)
        copy_checkout(copy)
        target = copy / mutant.path
        text = target.read_text()
        if text.count(mutant.old) != 1:
            sys.exit(f'error: {mutant.path} does not hold {mutant.old!r} exactly once; '
                     'update the mutant to the code')
        target.write_text(text.replace(mutant.old, mutant.new))
        done = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-x', '-p', 'no:cacheprovider',
                               '-n', str(workers), *mutant.tests], cwd=copy,
                              capture_output=True, text=True)
        return done.returncode == 0


def main(argv):
    if argv[1:] == ['--list']:
        for number, mutant in enumerate(MUTANTS, 1):
            print(f'{number:2d}. {mutant.what} ({mutant.path})')
        return 0
    chosen = [int(a) for a in argv[1:]] or range(1, len(MUTANTS) + 1)
    survivors = []
    started = time.perf_counter()
    for number in chosen:
        mutant = MUTANTS[number - 1]
        began = time.perf_counter()
        alive = survives(mutant, workers=1)
        print(f'{number:2d}. {"SURVIVED" if alive else "killed  "} {time.perf_counter() - began:5.0f} s  '
              f'{mutant.what}', flush=True)
        if alive:
            survivors.append(number)
    print(f'{len(chosen) - len(survivors)} of {len(chosen)} mutants killed in '
          f'{(time.perf_counter() - started) / 60:.1f} min')
    if survivors:
        print(f'survived: {", ".join(map(str, survivors))}: the tests miss these changes')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
