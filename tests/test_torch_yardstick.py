"""The PyTorch yardstick computes the project's step: the same networks (weight for weight),
and one step is Adam's first update of each player's own loss, in float32 and in bfloat16."""
import copy

import pytest

torch = pytest.importorskip('torch')  # benchmarks/requirements-pytorch.txt

import config  # noqa: E402
import gan_step  # noqa: E402
from benchmarks import torch_yardstick  # noqa: E402


@pytest.mark.parametrize('arch', ['dcgan', 'infogan'])
def test_the_networks_have_the_projects_weights_and_shapes(arch):
    cfg = config.Config(arch=arch)
    G, D = gan_step.image_networks(cfg)
    G_torch, D_torch = torch_yardstick.make_generator(arch), torch_yardstick.make_discriminator(arch)
    for ours, theirs in ((G, G_torch), (D, D_torch)):
        # TensorLayer's (k, k, in, out) kernels are PyTorch's (out, in, k, k) or (in, out, k, k)
        assert (sorted(int(w.shape.num_elements()) for w in ours.trainable_weights)
                == sorted(p.numel() for p in theirs.parameters()))
    assert G_torch(torch.randn(2, cfg.z_dim)).shape == (2, 1, 28, 28)
    assert D_torch(torch.randn(2, 1, 28, 28)).shape == (2, 1)


@pytest.mark.parametrize('mixed', [False, True])
def test_one_step_is_adams_first_update_of_each_players_own_loss(mixed):
    """Adam's first update is lr * g / (|g| + eps) for the gradient g of the player's own loss,
    recomputed here by hand from copies of the networks and the same z; a step that gave G
    the gradient of D's loss (or of both) would move some weights the other way."""
    torch.manual_seed(0)
    G, D = torch_yardstick.make_generator('dcgan', gf_dim=8), torch_yardstick.make_discriminator('dcgan', df_dim=8)
    step = torch_yardstick.make_train_step(G, D, batch_size=16, mixed=mixed)
    G_before, D_before = copy.deepcopy(G), copy.deepcopy(D)  # channels_last, as the step made them
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    dtypes = []
    D[0].register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    torch.manual_seed(1)
    losses = step(real)

    torch.manual_seed(1)
    z = torch.randn(16, 100)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=mixed):
        d_real, d_fake = D_before(real).float(), D_before(G_before(z)).float()
    a, b, c, lam = -1.0, 1.0, 0.0, 0.5
    g_loss = 0.5 * ((d_fake - c) ** 2).mean() + lam * (d_fake.mean() - d_real.mean().detach()) ** 2
    d_loss = 0.5 * ((d_real - b) ** 2).mean() + 0.5 * ((d_fake - a) ** 2).mean()
    assert float(losses['g_loss']) == pytest.approx(float(g_loss.detach()), rel=1e-5)
    assert float(losses['d_loss']) == pytest.approx(float(d_loss.detach()), rel=1e-5)
    for loss, before, after in ((g_loss, G_before, G), (d_loss, D_before, D)):
        weights = list(before.parameters())
        for grad, old, new in zip(torch.autograd.grad(loss, weights, retain_graph=True), weights,
                                  after.parameters()):
            expected = old - 1e-4 * grad / (grad.abs() + 1e-8)
            torch.testing.assert_close(new, expected, rtol=0, atol=2e-7)
    assert set(dtypes) == {torch.bfloat16 if mixed else torch.float32}  # D's first convolution
