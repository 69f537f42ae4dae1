"""Train a GAN of the LSGAN study on MNIST: `python main.py --model=lsgan_reg --a=-1 --b=1 --c=0`.

Every epoch writes an 8x8 grid of G(z_fixed) to samples/<run>/epoch_NNN.png and a checkpoint
to checkpoints/<run>/. Re-running the same command resumes where the last checkpoint ended.
"""
import os
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TensorFlow loads: no C++ info chatter
warnings.filterwarnings('ignore', message='distutils Version classes are deprecated')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, logging  # noqa: E402

import data  # noqa: E402
import flags  # noqa: E402
import losses  # noqa: E402
import model  # noqa: E402
import utils  # noqa: E402

FLAGS = flags.FLAGS


def objectives(f):
    """(discriminator loss, generator loss) of --model, both functions of (d_real, d_fake)."""
    def lsgan_d(d_real, d_fake):
        return losses.lsgan_discriminator_loss(d_real, d_fake, a=f.a, b=f.b)

    generator_losses = {
        'lsgan': lambda d_real, d_fake: losses.lsgan_generator_loss(d_fake, c=f.c),
        'lsgan_reg': lambda d_real, d_fake: losses.lsgan_reg_generator_loss(
            d_real, d_fake, c=f.c, lam=f.lam),
    }
    return lsgan_d, generator_losses[f.model]


def make_train_step(G, D, g_opt, d_opt, d_objective, g_objective, xla=False):
    """One simultaneous update of both players from one forward pass.

    As in the course project's code: G(z), D(x), D(G(z)) are computed once, each player's
    loss is differentiated with respect to its own weights only, then both step.
    """
    @tf.function(jit_compile=xla)
    def train_step(real, z):
        G.train()  # TL reads the mode while tracing: set it inside so every trace trains
        D.train()
        with tf.GradientTape(persistent=True) as tape:
            fake = G(z)
            d_real, d_fake = D(real), D(fake)
            d_loss = d_objective(d_real, d_fake)
            g_loss = g_objective(d_real, d_fake)
        g_opt.apply_gradients(zip(tape.gradient(g_loss, G.trainable_weights), G.trainable_weights))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, D.trainable_weights), D.trainable_weights))
        return {'d_loss': d_loss, 'g_loss': g_loss}

    return train_step


def make_sampler(G):
    @tf.function
    def sample(z):
        G.eval()  # moving BatchNorm statistics, no update
        return G(z)

    return sample


def main(argv):
    del argv
    f = FLAGS
    run = flags.run_name(f)
    ckpt_dir = os.path.join(f.checkpoint_dir, run)
    sample_dir = os.path.join(f.sample_dir, run)

    try:
        images, _, source = data.load_training_images(f.dataset, f.data_dir, f.download)
    except data.DataError as error:
        flags.fail(error)
    steps_per_epoch = len(images) // f.batch_size
    if steps_per_epoch == 0:
        flags.fail(f'--batch_size={f.batch_size} exceeds the {len(images)} training images')
    record = {**flags.run_definition(f), 'data_source': source, 'n_images': len(images),
              'steps_per_epoch': steps_per_epoch}
    try:
        utils.check_or_record_run(os.path.join(ckpt_dir, 'run.json'), record,
                                  [*flags.RUN_DEFINING, 'n_images'])
    except utils.RunMismatch as error:
        flags.fail(error)

    tf.random.set_seed(f.seed)
    G = model.generator(f.z_dim, f.gf_dim)
    D = model.discriminator(f.df_dim)
    g_opt = tf.keras.optimizers.Adam(f.lr, beta_1=f.beta1)
    d_opt = tf.keras.optimizers.Adam(f.lr, beta_1=f.beta1)
    step = tf.Variable(0, dtype=tf.int64, name='step')
    noise = tf.random.Generator.from_seed(f.seed)
    manager = utils.checkpoint_manager(ckpt_dir, f.keep_checkpoints, G=G.all_weights,
                                       D=D.all_weights, g_opt=g_opt, d_opt=d_opt, step=step,
                                       noise=noise)
    total_steps = f.epochs * steps_per_epoch
    if f.max_steps:
        total_steps = min(total_steps, f.max_steps)
    if manager.latest_checkpoint:
        manager.checkpoint.restore(manager.latest_checkpoint)
        logging.info('Resuming %s from step %d (epoch %d, batch %d of %d).', run, int(step),
                     int(step) // steps_per_epoch + 1, int(step) % steps_per_epoch,
                     steps_per_epoch)
    if int(step) >= total_steps:
        logging.info('%s already trained for %d steps: nothing to do.', run, int(step))
        return

    train_step = make_train_step(G, D, g_opt, d_opt, *objectives(f), xla=f.xla)
    sample = make_sampler(G)
    fixed_z = np.random.default_rng(f.seed).standard_normal((f.sample_size, f.z_dim), np.float32)
    real_images = data.to_model_range(images)
    log = utils.CsvLog(os.path.join(ckpt_dir, 'losses.csv'), ['step', 'epoch', 'd_loss', 'g_loss'],
                       resume_step=int(step))
    logging.info('Training %s: %d epochs of %d steps, batch %d, checkpoints in %s, samples in %s',
                 run, f.epochs, steps_per_epoch, f.batch_size, ckpt_dir, sample_dir)

    start = int(step)
    while int(step) < total_steps:
        epoch = int(step) // steps_per_epoch
        tick, tick_step = time.perf_counter(), int(step)
        for real in data.epoch_batches(real_images, f.batch_size, f.seed, epoch,
                                       skip=int(step) % steps_per_epoch):
            out = train_step(real, noise.normal([f.batch_size, f.z_dim]))
            step.assign_add(1)
            values = {k: float(v) for k, v in out.items()}
            log.write({'step': int(step), 'epoch': epoch + 1, **values})
            if int(step) % f.log_every == 0:
                rate = (int(step) - tick_step) / (time.perf_counter() - tick)
                logging.info('step %d/%d  epoch %d  %s  %.2f steps/s', int(step), total_steps,
                             epoch + 1, '  '.join(f'{k} {v:.4f}' for k, v in values.items()), rate)
                tick, tick_step = time.perf_counter(), int(step)
            if int(step) >= total_steps:
                break
        log.flush()
        utils.save_grid(sample(fixed_z).numpy(),
                        os.path.join(sample_dir, f'epoch_{epoch + 1:03d}.png'))
        manager.save(checkpoint_number=int(step))
        logging.info('Epoch %d done at step %d: grid and checkpoint written.', epoch + 1, int(step))
    log.close()
    logging.info('Finished %s: %d steps this invocation.', run, int(step) - start)


if __name__ == '__main__':
    app.run(main, flags_parser=flags.parse_or_exit)
