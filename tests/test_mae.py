"""Tests for umalib.models.mae and umalib.unlearn.generative (tiny configs, CPU, a few seconds)."""

import copy

import pytest
import torch

from umalib.models.mae import (
    MAE,
    Inpainter,
    MAEConfig,
    centre_square_keep,
    inpainted_region,
    keep_to_pixel_mask,
    mask_image,
    random_keep,
    reconstruction_loss,
    train_mae,
)
from umalib.unlearn.generative import (
    GENERATIVE_METHODS,
    saliency_mask,
    unlearn_generative,
)

TINY = MAEConfig(image_size=8, channels=1, patch_size=2, embed_dim=16, depth=1, heads=2,
                 decoder_dim=16, decoder_depth=1, decoder_heads=2, mask_ratio=0.5)


def _images(n: int, seed: int = 0, kind: int | None = None) -> torch.Tensor:
    """Simple structured 8x8 images: a bright horizontal or vertical bar plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    kinds = torch.randint(0, 2, (n,), generator=g) if kind is None else torch.full((n,), kind)
    pos = torch.randint(2, 6, (n,), generator=g)
    for i in range(n):
        if kinds[i] == 0:
            x[i, 0, pos[i], :] = 0.9
        else:
            x[i, 0, :, pos[i]] = 0.9
    return x


@pytest.fixture(scope="module")
def trained_and_losses() -> tuple[MAE, list[float]]:
    torch.manual_seed(0)
    return train_mae(TINY, _images(256), epochs=5, batch_size=64, lr=3e-3, progress=False)


@pytest.fixture(scope="module")
def trained(trained_and_losses) -> MAE:
    return trained_and_losses[0]


def test_training_reduces_loss(trained_and_losses) -> None:
    mae, losses = trained_and_losses
    assert len(losses) == 5
    assert losses[-1] < 0.7 * losses[0]
    assert not mae.training


def test_keep_masks() -> None:
    cfg = MAEConfig()  # 28 / 4 -> 7x7 grid
    keep = centre_square_keep(cfg, 5, 0.5)
    assert keep.shape == (5, 49) and keep.dtype == torch.bool
    assert int((~keep[0]).sum()) == 9  # exactly centred 3x3 square
    grid = keep[0].reshape(7, 7)
    assert not grid[2:5, 2:5].any() and grid.sum() == 40
    assert torch.equal(keep[0], keep[4])
    keep16 = centre_square_keep(MAEConfig(image_size=32, patch_size=2), 2, 0.5)
    assert int((~keep16[0]).sum()) == 64  # 8/16 of the grid as in I2I
    g = torch.Generator().manual_seed(0)
    rk = random_keep(cfg, 7, 0.5, g)
    assert rk.shape == (7, 49) and rk.dtype == torch.bool
    assert (rk.sum(1) == 24).all()
    assert not torch.equal(rk[0], rk[1])
    with pytest.raises(ValueError):
        random_keep(cfg, 2, 1.0, g)


def test_encode_shape_and_inpaint_keeps_visible(trained: MAE) -> None:
    x = _images(6, seed=1)
    keep = random_keep(TINY, 6, 0.5, torch.Generator().manual_seed(1))
    lat = trained.encode(x, keep)
    assert lat.shape == (6, 1 + 8, TINY.embed_dim)
    pred = trained.decode(lat, keep)
    assert pred.shape == x.shape and pred.min() >= 0 and pred.max() <= 1
    out = trained.inpaint(x, keep)
    vis = keep_to_pixel_mask(keep, TINY).expand_as(x)
    assert torch.equal(out[vis], x[vis])
    assert torch.equal(out[~vis], pred[~vis])
    im = mask_image(x, keep, TINY)
    assert torch.equal(im[vis], x[vis]) and (im[~vis] == 0.5).all()
    # the prediction for hidden patches depends only on visible ones
    assert torch.allclose(trained.inpaint(im, keep), out, atol=1e-6)
    assert reconstruction_loss(trained, x, keep).shape == (6,)


def test_inpainter_shape_and_input_gradient(trained: MAE) -> None:
    keep_row = centre_square_keep(TINY, 1, 0.5)[0]
    f = Inpainter(trained, keep_row)
    im = mask_image(_images(4, seed=2), keep_row.expand(4, -1), TINY).requires_grad_(True)
    out = f(im)
    assert out.shape == im.shape
    region = f.inpainted_region()
    assert torch.equal(region, inpainted_region(keep_row, TINY))
    assert region.shape == (1, 1, 8, 8) and int(region.sum()) == 16
    # weight only the hidden output so the gradient has to pass through the network
    hidden = ~keep_to_pixel_mask(keep_row[None], TINY)
    (out * hidden).sum().backward()
    vis = keep_to_pixel_mask(keep_row[None], TINY).expand_as(im)
    assert im.grad[vis].abs().sum() > 0
    assert im.grad[~vis].abs().sum() == 0


def test_i2i_trains_only_encoder(trained: MAE) -> None:
    before = copy.deepcopy(trained.state_dict())
    un = unlearn_generative("I2I", trained, _images(64, 3, kind=0), _images(64, 4, kind=1),
                            epochs=2, lr=1e-3, batch_size=32, progress=False)
    for (name, a), b in zip(trained.state_dict().items(), before.values()):
        assert torch.equal(a, b), f"original modified: {name}"
    for p, q in zip(un.decoder_parameters(), trained.decoder_parameters()):
        assert torch.equal(p, q)
    changed = [not torch.equal(p, q)
               for p, q in zip(un.encoder_parameters(), trained.encoder_parameters())]
    assert sum(changed) >= len(changed) // 2


def test_salun_trains_only_salient(trained: MAE) -> None:
    retain, forget = _images(64, 5, kind=0), _images(64, 6, kind=1)
    masks = saliency_mask(trained, forget, ratio=0.5, batch_size=256)
    total = sum(m.numel() for m in masks.values())
    assert abs(sum(int(m.sum()) for m in masks.values()) - 0.5 * total) <= 1
    un = unlearn_generative("SalUn", trained, retain, forget, epochs=2, lr=1e-3, batch_size=32,
                            progress=False, mask_ratio=0.3)
    assert abs(sum(int(m.sum()) for m in un.salient_mask.values()) - 0.3 * total) <= 1
    n_changed = 0
    orig = dict(trained.named_parameters())
    for name, p in un.named_parameters():
        m = un.salient_mask[name]
        assert torch.equal(p[~m], orig[name][~m]), f"non-salient weights moved in {name}"
        n_changed += int((p[m] != orig[name][m]).sum())
    assert n_changed > 0.5 * 0.3 * total


def test_unknown_method() -> None:
    assert set(GENERATIVE_METHODS) == {"I2I", "SalUn"}
    x = _images(4)
    with pytest.raises(ValueError, match="I2I"):
        unlearn_generative("nope", MAE(TINY), x, x, epochs=1, lr=1e-3, batch_size=2)
    with pytest.raises(ValueError, match="schedule"):
        unlearn_generative("SalUn", MAE(TINY), x, x, epochs=1, lr=1e-3, batch_size=2,
                           schedule="step")
