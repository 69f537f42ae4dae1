"""The PyTorch yardstick: the project's networks and its joint lsgan_reg step in PyTorch, written
the way PyTorch's DCGAN example writes them (nn.Sequential, one Adam per player) and the way
PyTorch's CPU performance guide says to run them: channels_last, bfloat16 autocast for mixed
precision, torch.compile of the whole step. Only for the benchmark (PyTorch comes from
benchmarks/requirements-pytorch.txt, never requirements.txt); nothing in the project imports it.
The layers come from model.py's tables, so the three implementations compute the same networks.
"""
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model  # noqa: E402

KERNEL = model.KERNEL[0]
SAME = KERNEL // 2  # the padding that gives TensorFlow's 'SAME' output sizes (see _sequential)


def _activation(act):
    return nn.LeakyReLU(model.LRELU_SLOPE) if act is model.lrelu else nn.ReLU()


def _sequential(table, shape, width, act, out_layers):
    """nn.Sequential of a model.ARCHITECTURES table from an input of `shape` ((features,) or
    (channels, side)). TensorFlow's 'SAME' padding of a k x k kernel is padding k // 2 here (and,
    for a transposed convolution, output_padding = stride - 1): the same output sizes and FLOPs."""
    stack = []
    for i, (op, *args) in enumerate(table):
        bias = not model.normalised_next(table, i)
        if op in ('dense', 'project'):
            units = args[0] if op == 'dense' else args[1] ** 2 * args[0] * width
            stack.append(nn.Linear(shape[0], units, bias=bias))
            shape = (units,)
        elif op == 'reshape':
            stack.append(nn.Unflatten(1, (args[0] * width, args[1], args[1])))
            shape = (args[0] * width, args[1])
        elif op in ('conv', 'deconv', 'image'):
            channels, stride = (1, args[0]) if op == 'image' else (args[0] * width, args[1])
            if op == 'conv':
                stack.append(nn.Conv2d(shape[0], channels, KERNEL, stride, SAME, bias=bias))
                shape = (channels, -(-shape[1] // stride))
            else:
                stack.append(nn.ConvTranspose2d(shape[0], channels, KERNEL, stride, SAME,
                                                output_padding=stride - 1, bias=bias))
                shape = (channels, shape[1] * stride)
        elif op == 'norm':
            norm = nn.BatchNorm2d if len(shape) == 2 else nn.BatchNorm1d
            stack += [norm(shape[0], eps=1e-5, momentum=0.1), _activation(act)]  # TF's 0.9
        elif op == 'act':
            stack.append(_activation(act))
        elif op == 'flatten':
            stack.append(nn.Flatten())
            shape = (shape[0] * shape[1] ** 2,)
    return nn.Sequential(*stack, *out_layers(shape))


def make_generator(arch, z_dim=100, gf_dim=64):
    spec = model.ARCHITECTURES[arch]
    return _sequential(spec.generator, (z_dim,), gf_dim, spec.g_act, lambda shape: [nn.Tanh()])


def make_discriminator(arch, df_dim=64):
    spec = model.ARCHITECTURES[arch]
    return _sequential(spec.discriminator, (model.IMAGE_SHAPE[-1], model.IMAGE_SHAPE[0]), df_dim,
                       model.lrelu, lambda shape: [nn.Linear(shape[0], 1)])


def make_train_step(generator, discriminator, batch_size=64, z_dim=100, a=-1.0, b=1.0, c=0.0,
                    lam=0.5, mixed=False, compiled=False):
    """The slides' joint step of lsgan_reg: one forward pass, each player's loss differentiated
    only with respect to its own weights, both players updated. `mixed`: the networks under
    bfloat16 autocast (weights, optimizer state and losses float32). `compiled`: the whole
    step through torch.compile."""
    generator.to(memory_format=torch.channels_last)
    discriminator.to(memory_format=torch.channels_last)
    g_weights, d_weights = list(generator.parameters()), list(discriminator.parameters())
    g_opt = torch.optim.Adam(g_weights, 1e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d_weights, 1e-4, betas=(0.5, 0.999))

    def train_step(images):
        noise = torch.randn(batch_size, z_dim)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=mixed):
            generated = generator(noise).contiguous(memory_format=torch.channels_last)
            real_output = discriminator(images).float()
            fake_output = discriminator(generated).float()
        g_loss = (0.5 * torch.mean(torch.square(fake_output - c))
                  + lam * torch.square(torch.mean(fake_output) - torch.mean(real_output).detach()))
        d_loss = (0.5 * torch.mean(torch.square(real_output - b))
                  + 0.5 * torch.mean(torch.square(fake_output - a)))
        g_grads = torch.autograd.grad(g_loss, g_weights, retain_graph=True)
        d_grads = torch.autograd.grad(d_loss, d_weights)
        for weight, grad in zip(g_weights + d_weights, g_grads + d_grads):
            weight.grad = grad
        g_opt.step()
        d_opt.step()
        return {'d_loss': d_loss.detach(), 'g_loss': g_loss.detach()}

    return torch.compile(train_step) if compiled else train_step
