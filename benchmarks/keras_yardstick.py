"""The yardstick: the project's networks and its joint lsgan_reg step in plain Keras 3, written
the way the official TensorFlow DCGAN tutorial writes a model and its `train_step`
(Sequential models, two tapes, one tf.function). Only for the benchmark; nothing in the
project imports it. The layers come from the same tables as model.py, so the two
implementations compute the same networks.
"""
import sys
from pathlib import Path

import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model  # noqa: E402


def _sequential(table, inputs, width, act, out_layer):
    stack = [keras.Input(inputs)]
    for i, (op, *args) in enumerate(table):
        bias = not model.normalised_next(table, i)
        if op == 'dense':
            stack.append(layers.Dense(args[0], use_bias=bias))
        elif op == 'project':
            stack.append(layers.Dense(args[1] * args[1] * args[0] * width, use_bias=bias))
        elif op == 'reshape':
            stack.append(layers.Reshape((args[1], args[1], args[0] * width)))
        elif op in ('conv', 'deconv'):
            layer = layers.Conv2D if op == 'conv' else layers.Conv2DTranspose
            stack.append(layer(args[0] * width, 5, strides=args[1], padding='same', use_bias=bias))
        elif op == 'norm':
            stack += [layers.BatchNormalization(momentum=0.9, epsilon=1e-5), layers.Activation(act)]
        elif op == 'act':
            stack.append(layers.Activation(act))
        elif op == 'flatten':
            stack.append(layers.Flatten())
        elif op == 'image':
            stack.append(layers.Conv2DTranspose(1, 5, strides=args[0], padding='same'))
    stack.append(out_layer)
    return keras.Sequential(stack)


def make_generator(arch, z_dim=100, gf_dim=64):
    spec = model.ARCHITECTURES[arch]
    return _sequential(spec.generator, (z_dim,), gf_dim, spec.g_act,
                       layers.Activation('tanh', dtype='float32'))


def make_discriminator(arch, df_dim=64):
    spec = model.ARCHITECTURES[arch]
    return _sequential(spec.discriminator, (28, 28, 1), df_dim, model.lrelu,
                       layers.Dense(1, dtype='float32'))


def make_train_step(arch, batch_size=64, z_dim=100, a=-1.0, b=1.0, c=0.0, lam=0.5,
                    jit_compile=False):
    """The slides' joint step of lsgan_reg: one forward pass, both players updated."""
    generator, discriminator = make_generator(arch, z_dim), make_discriminator(arch)
    generator_optimizer = keras.optimizers.Adam(1e-4, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(1e-4, beta_1=0.5)

    @tf.function(jit_compile=jit_compile)
    def train_step(images):
        noise = tf.random.normal([batch_size, z_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = (0.5 * tf.reduce_mean(tf.square(fake_output - c))
                        + lam * tf.square(tf.reduce_mean(fake_output)
                                          - tf.stop_gradient(tf.reduce_mean(real_output))))
            disc_loss = (0.5 * tf.reduce_mean(tf.square(real_output - b))
                         + 0.5 * tf.reduce_mean(tf.square(fake_output - a)))
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables))
        return {'d_loss': disc_loss, 'g_loss': gen_loss}

    return train_step
