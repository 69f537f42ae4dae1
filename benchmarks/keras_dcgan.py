"""The yardstick: the same DCGAN and LSGAN step in plain Keras 3, written the way the official
TensorFlow DCGAN tutorial writes its model and `train_step` (Sequential models, two tapes, one
tf.function). Only for the benchmark; nothing in the project imports it.
"""
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


def make_generator(z_dim=100, gf_dim=64):
    return keras.Sequential([
        keras.Input((z_dim,)),
        layers.Dense(1024, use_bias=False), layers.BatchNormalization(), layers.ReLU(),
        layers.Dense(7 * 7 * 2 * gf_dim, use_bias=False), layers.BatchNormalization(), layers.ReLU(),
        layers.Reshape((7, 7, 2 * gf_dim)),
        layers.Conv2DTranspose(gf_dim, 5, strides=2, padding='same', use_bias=False),
        layers.BatchNormalization(), layers.ReLU(),
        layers.Conv2DTranspose(1, 5, strides=2, padding='same', activation='tanh'),
    ])


def make_discriminator(df_dim=64):
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(df_dim, 5, strides=2, padding='same'), layers.LeakyReLU(0.2),
        layers.Conv2D(2 * df_dim, 5, strides=2, padding='same', use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dense(1024, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(0.2),
        layers.Dense(1),
    ])


def make_train_step(batch_size=64, z_dim=100, a=-1.0, b=1.0, c=0.0, jit_compile=False):
    generator, discriminator = make_generator(z_dim), make_discriminator()
    generator_optimizer = keras.optimizers.Adam(1e-4, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(1e-4, beta_1=0.5)

    @tf.function(jit_compile=jit_compile)
    def train_step(images):
        noise = tf.random.normal([batch_size, z_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = 0.5 * tf.reduce_mean(tf.square(fake_output - c))
            disc_loss = (0.5 * tf.reduce_mean(tf.square(real_output - b))
                         + 0.5 * tf.reduce_mean(tf.square(fake_output - a)))
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables))
        return {'d_loss': disc_loss, 'g_loss': gen_loss}

    return train_step
