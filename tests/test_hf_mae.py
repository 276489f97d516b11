"""umalib.models.hf_mae: a Hugging Face ViT-MAE behind umalib's MAE interface (offline, tiny
random-init config)."""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from umalib.models.hf_mae import HFMAE, keep_to_noise, load_vit_mae  # noqa: E402
from umalib.models.mae import (  # noqa: E402
    Inpainter, centre_square_keep, keep_to_pixel_mask, random_keep,
)

torch.set_num_threads(1)

IMAGE, PATCH, C = 32, 8, 3
L = (IMAGE // PATCH) ** 2


def _tiny_config(norm_pix_loss: bool = False) -> "transformers.ViTMAEConfig":
    return transformers.ViTMAEConfig(
        image_size=IMAGE, patch_size=PATCH, num_channels=C, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, decoder_hidden_size=32,
        decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=64,
        mask_ratio=0.75, norm_pix_loss=norm_pix_loss)


def _save_tiny(path, norm_pix_loss: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    model = transformers.ViTMAEForPreTraining(_tiny_config(norm_pix_loss)).eval()
    model.save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("vitmae")
    _save_tiny(d)
    return d


@pytest.fixture(scope="module")
def hf(saved) -> HFMAE:
    return load_vit_mae(saved)


def _images(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, C, IMAGE, IMAGE, generator=torch.Generator().manual_seed(seed))


def _keep(n: int, seed: int = 2, ratio: float = 0.5) -> torch.Tensor:
    return random_keep(_cfg(), n, ratio, torch.Generator().manual_seed(seed))


def _cfg():
    from umalib.models.hf_mae import mae_config_from_hf
    return mae_config_from_hf(_tiny_config())


def test_loaded_config_and_eval(hf):
    cfg = hf.cfg
    assert (cfg.image_size, cfg.channels, cfg.patch_size, cfg.num_patches) == (IMAGE, C, PATCH, L)
    assert (cfg.embed_dim, cfg.depth, cfg.decoder_dim, cfg.decoder_depth) == (32, 2, 32, 1)
    assert not hf.training and not hf.model.training
    assert tuple(hf.mean.flatten().tolist()) == pytest.approx((0.485, 0.456, 0.406))


def test_loaded_weights_equal_saved(tmp_path):
    ref = _save_tiny(tmp_path, seed=3)
    got = load_vit_mae(tmp_path).model
    for (n, a), (_, b) in zip(ref.state_dict().items(), got.state_dict().items()):
        assert torch.equal(a, b), n


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_forward_matches_direct_hf_call_and_kept_set(hf, ratio):
    x, keep = _images(3), _keep(3, ratio=ratio)
    k = int(keep[0].sum())
    with torch.no_grad():
        got = hf(x, keep)
        model = hf.model
        old = model.config.mask_ratio
        model.config.mask_ratio = (L - k) / L - 1e-6  # independent of the adapter's formula
        model.vit.embeddings.config.mask_ratio = model.config.mask_ratio
        try:
            mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
            out = model(pixel_values=(x - mean) / std, noise=keep_to_noise(keep))
        finally:
            model.config.mask_ratio = old
            model.vit.embeddings.config.mask_ratio = old
        assert int(model.config.mask_ratio * 100) == 75  # the adapter restored the ratio
        # HF kept exactly the visible patches (mask: 0 = kept)
        assert torch.equal(out.mask == 0, keep)
        expected = (model.unpatchify(out.logits) * std + mean).clamp(0, 1)
    assert got.shape == x.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert got.min() >= 0 and got.max() <= 1


def test_noise_ranks_visible_first():
    keep = _keep(4)
    order = keep_to_noise(keep).argsort(dim=1)
    k = int(keep[0].sum())
    for row in range(4):
        vis = order[row, :k]
        assert bool(keep[row, vis].all()) and not bool(keep[row, order[row, k:]].any())
        assert torch.equal(vis, vis.sort().values)  # visible tokens in grid order


def test_keep_changes_output(hf):
    x = _images(1)
    with torch.no_grad():
        a = hf(x, _keep(1, seed=5))
        b = hf(x, _keep(1, seed=6))
    assert not torch.allclose(a, b)


def test_inpaint_copies_visible_patches(hf):
    x, keep = _images(2), _keep(2)
    with torch.no_grad():
        out = hf.inpaint(x, keep)
        pred = hf(x, keep)
    m = keep_to_pixel_mask(keep, hf.cfg).expand_as(x)
    assert torch.equal(out[m], x[m])
    assert torch.equal(out[~m], pred[~m])


@pytest.mark.parametrize("method", ["forward", "inpaint"])
def test_gradients_reach_visible_pixels_only(hf, method):
    x = _images(2).requires_grad_(True)
    keep = _keep(2)
    # weights so the clamp at 0/1 does not hide every pixel's gradient
    out = getattr(hf, method)(x, keep)
    (out * torch.randn_like(out)).sum().backward()
    m = keep_to_pixel_mask(keep, hf.cfg).expand_as(x)
    assert x.grad[~m].abs().max() == 0
    per_patch = x.grad.abs().reshape(2, C, 4, PATCH, 4, PATCH).sum((1, 3, 5)).reshape(2, L)
    assert bool((per_patch[keep] > 0).all())


def test_norm_pix_loss_model(tmp_path):
    _save_tiny(tmp_path, norm_pix_loss=True, seed=4)
    hf = load_vit_mae(tmp_path)
    x = _images(2).requires_grad_(True)
    keep = _keep(2)
    out = hf(x, keep)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    (out * torch.randn_like(out)).sum().backward()
    m = keep_to_pixel_mask(keep, hf.cfg).expand_as(x)
    assert x.grad[~m].abs().max() == 0 and x.grad[m].abs().max() > 0
    # visible patches: de-normalised with their own statistics, i.e. exactly the model's
    # per-patch prediction mapped back
    with torch.no_grad():
        z = hf.normalise(x)
        patches = z.reshape(2, C, 4, PATCH, 4, PATCH).permute(0, 2, 4, 3, 5, 1).reshape(2, L, -1)
        mu, sd = patches.mean(-1, keepdim=True), (patches.var(-1, keepdim=True) + 1e-6).sqrt()
        logits = hf.decode_patches(hf.encode(x, keep), keep)
        expect = hf.denormalise(hf.model.unpatchify(logits * sd + mu)).clamp(0, 1)
        mv = keep_to_pixel_mask(keep, hf.cfg).expand_as(x)
        torch.testing.assert_close(out.detach()[mv], expect[mv], rtol=1e-5, atol=1e-5)


def test_all_and_no_patches_visible(hf):
    x = _images(1)
    with torch.no_grad():
        full = hf(x, torch.ones(1, L, dtype=torch.bool))
        none = hf(x, torch.zeros(1, L, dtype=torch.bool))
    assert full.shape == none.shape == x.shape


def test_unequal_keep_count_raises(hf):
    keep = _keep(2)
    keep[1, keep[1].nonzero()[0]] = False
    with pytest.raises(ValueError, match="same number"):
        hf(_images(2), keep)


def test_bad_shapes_raise(hf):
    with pytest.raises(ValueError, match="shape"):
        hf(torch.rand(1, C, 16, 16), _keep(1))
    with pytest.raises(ValueError, match="keep"):
        hf(_images(1), torch.ones(1, L + 1, dtype=torch.bool))


def test_missing_directory_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*facebook/vit-mae-base"):
        load_vit_mae(tmp_path / "nope")


def test_missing_config_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json.*facebook/vit-mae-base"):
        load_vit_mae(tmp_path)


def test_missing_weights_error(tmp_path):
    _tiny_config().save_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no weights.*model.safetensors"):
        load_vit_mae(tmp_path)


def test_preprocessor_stats_are_used(tmp_path):
    _save_tiny(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    hf = load_vit_mae(tmp_path)
    assert hf.mean.flatten().tolist() == [0.5, 0.5, 0.5]
    assert hf.std.flatten().tolist() == [0.25, 0.25, 0.25]


def test_missing_transformers_error(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(ImportError, match=r"pip install 'umalib\[hf\]'"):
        load_vit_mae(tmp_path)


def test_umalib_inpainter_drives_hfmae(hf):
    keep_row = centre_square_keep(hf.cfg, 1, 0.5)[0]
    inp = Inpainter(hf, keep_row)
    x = _images(2).requires_grad_(True)
    out = inp(x)
    keep = keep_row[None].expand(2, -1)
    with torch.no_grad():
        torch.testing.assert_close(out.detach(), hf.inpaint(x, keep))
    region = inp.inpainted_region()
    assert region.shape == (1, 1, IMAGE, IMAGE)
    assert torch.equal(region[0, 0], ~keep_to_pixel_mask(keep_row[None], hf.cfg)[0, 0])
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad[region.expand_as(x)].abs().max() == 0


def test_digest_follows_every_weight_file(tmp_path):
    from umalib.models.hf_mae import vit_mae_digest

    _save_tiny(tmp_path)
    d1 = vit_mae_digest(tmp_path)
    assert d1 == vit_mae_digest(tmp_path)
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"another shard")
    d2 = vit_mae_digest(tmp_path)
    assert d2 != d1
    (tmp_path / "notes.txt").write_text("not a weight file")
    assert vit_mae_digest(tmp_path) == d2


def test_loading_keeps_position_embeddings_frozen(saved):
    # from_pretrained marks every parameter trainable; the MAE's sin-cos tables must stay fixed
    m = load_vit_mae(saved)
    frozen = {n for n, p in m.named_parameters() if not p.requires_grad}
    assert frozen == {"model.vit.embeddings.position_embeddings", "model.decoder.decoder_pos_embed"}
