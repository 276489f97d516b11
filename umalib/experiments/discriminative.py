"""The experiment of one profile and its discriminative stages: data, original model, unlearned
models, their evaluation, and UMA attacks. The generative, defence and ablation stages hang off
it (``exp.generative``, ``exp.defenses``, ``exp.ablations``, ``exp.verification``) in the
same style: a
``<stage>_key(...)`` method and a ``<stage>(...)`` method returning :class:`Built` (or the
attack's tensors), cached by key.

Each stage's artifact key hashes its own config, its upstream keys and the data fingerprint
(:mod:`umalib.cache`), so a notebook finds its inputs by key, never by a hard-coded path,
and notebook 02 reuses what notebook 01 built.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from functools import cached_property
from typing import Any, Callable

import torch
from torch import nn

from .. import budget, cache
from ..attacks.probe import run_probe
from ..attacks.relearn import RelearnResult
from ..attacks.uma import UMAResult
from ..config import SCENARIOS, Profile
from ..data.splits import BatchLoader, ScenarioData, Splits, load_splits, make_scenario
from ..metrics.classification import accuracy, predict, residual_knowledge
from ..metrics.mia import MIAAttacker, ua_mia
from ..models.classifiers import Classifier, build_model
from ..train import set_seed, train_classifier
from ..unlearn import method_spec
from .ablations import AblationStages
from .defenses import DefenseStages
from .generative import GenerativeStages
from .verification import VerificationStages
from .stage import (EVAL_CODE, ORIGINAL_CODE, RELEARN_CODE, UMA_CODE, Built, cached_model,
                    cpu_state, stage_key)


class Experiment:
    """One profile's experiment with cached stages.

    Args:
        profile: a :class:`~umalib.config.Profile` (``umalib.config.load(name)``).
        device: "cpu" or "cuda".
        progress: show progress bars.
        force: rebuild every stage instead of reading the cache.
    """

    def __init__(self, profile: Profile, device: str = "cpu", progress: bool = True,
                 force: bool = False) -> None:
        self.profile, self.device, self.progress, self.force = profile, device, progress, force

    # ------------------------------------------------------- stage groups
    @cached_property
    def generative(self) -> GenerativeStages:
        """The masked-autoencoder stages (notebook 03)."""
        return GenerativeStages(self)

    @cached_property
    def defenses(self) -> DefenseStages:
        """Adversarial unlearning and VAE purification (notebook 04)."""
        return DefenseStages(self)

    @cached_property
    def ablations(self) -> AblationStages:
        """Attack-steps and step-size sweeps (notebook 05)."""
        return AblationStages(self)

    @cached_property
    def verification(self) -> VerificationStages:
        """The verifier's reports on this profile's models (notebook 02)."""
        return VerificationStages(self)

    # ----------------------------------------------------------------- data
    @cached_property
    def splits(self) -> Splits:
        return load_splits(self.profile.data, self.profile.seed)

    def scenario(self, kind: str) -> ScenarioData:
        """The class-wise or instance-wise scenario's data."""
        if kind not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {kind!r}")
        return ScenarioData(self.splits, make_scenario(self.splits, kind, self.profile.scenario,
                                                       self.profile.seed))

    def new_model(self) -> Classifier:
        """An untrained classifier of the profile's architecture for this dataset."""
        c, h, _ = self.splits.shape
        mean, std = self.splits.mean_std
        return build_model(self.profile.model.arch, in_channels=c,
                           num_classes=self.splits.num_classes, image_size=h, mean=mean, std=std,
                           width=self.profile.model.width)

    def load_model(self, tensors: dict[str, torch.Tensor]) -> nn.Module:
        """A classifier of the profile's architecture with ``tensors`` loaded, eval mode."""
        model = self.new_model()
        model.load_state_dict(tensors)
        return model.to(self.device).eval()

    # ------------------------------------------------------------- original
    def original_key(self) -> str:
        p = self.profile
        return stage_key("original", {"model": p.model, "train": p.train, "seed": p.seed},
                         data=self.splits.fingerprint,
                         code=ORIGINAL_CODE + (Experiment.original, Experiment.new_model))

    def original(self) -> Built:
        """The original model trained on the whole training split (cached)."""
        p = self.profile

        def build() -> tuple[dict, dict]:
            set_seed(p.seed)
            model = self.new_model()
            loader = BatchLoader(self.splits.x_train, self.splits.y_train, p.train.batch_size,
                                 shuffle=True, seed=p.seed)
            res = train_classifier(model, loader, p.train, seed=p.seed, device=self.device,
                                   progress=self.progress, desc="original")
            return cpu_state(model), {"seconds": res.seconds, "losses": res.losses,
                                   "train_accuracy_last_epoch": res.accuracies[-1]}

        return cached_model("original", self.original_key(), build, self.load_model, self.force)

    # ------------------------------------------------------------ unlearned
    def unlearned_key(self, kind: str, method: str) -> str:
        p = self.profile
        cfg = {"method": method, "params": p.methods[method], "kind": kind,
               "scenario": p.scenario, "seed": p.seed}
        if method == "retrain":
            cfg["recipe"] = p.train
        # the method's own module, not the registry: editing SalUn must not rebuild FT
        return stage_key("unlearned", cfg, upstream=[self.original_key()],
                         data=self.splits.fingerprint,
                         code=(method_spec(method).module, "umalib.data.splits",
                               Experiment.unlearned))

    def unlearned(self, kind: str, method: str, original: Built | None = None) -> Built:
        """The model unlearned with ``method`` in scenario ``kind`` (cached)."""
        if method not in self.profile.methods:
            raise ValueError(f"unknown unlearning method {method!r}; this profile's methods: "
                             f"{list(self.profile.methods)}")
        sd = self.scenario(kind)
        p = self.profile

        def build() -> tuple[dict, dict]:
            orig = original or self.original()
            cfg = p.methods[method]
            t0 = time.perf_counter()
            model = method_spec(method).fn(orig.model, sd.loader("retain", cfg.batch_size),
                                       sd.loader("forget", cfg.batch_size), cfg, seed=p.seed,
                                       device=self.device, progress=self.progress, recipe=p.train)
            return cpu_state(model), {"seconds": time.perf_counter() - t0}

        return cached_model("unlearned", self.unlearned_key(kind, method), build,
                            self.load_model, self.force)

    # ----------------------------------------------------------- evaluation
    def mia_attacker(self, model: nn.Module, kind: str) -> MIAAttacker:
        """The reference confidence MIA fitted on ``model``'s clean shadow outputs."""
        (xm, ym), (xn, yn) = self.scenario(kind).mia_shadow(self.profile.mia_shadow_max)
        lm, _ = predict(model, BatchLoader(xm, ym, 1000), device=self.device)
        ln, _ = predict(model, BatchLoader(xn, yn, 1000), device=self.device)
        return MIAAttacker.fit(lm, ym, ln, yn)

    def evaluate(self, model: nn.Module, kind: str) -> dict[str, float]:
        """TA, RA, UA (%, UA = forget-set accuracy, lower is better) and MIA (share of forget
        samples an SVC confidence attack calls members, in [0, 1]) of any classifier-like
        ``model``."""
        return self.evaluate_with_attacker(model, kind)[0]

    def evaluate_with_attacker(self, model: nn.Module, kind: str
                               ) -> tuple[dict[str, float], MIAAttacker]:
        """:meth:`evaluate` and the MIA attacker it fitted on ``model``'s clean shadow outputs
        (to score the same model's attacked outputs)."""
        sd = self.scenario(kind)
        # One pass per part: the MIA shadow sets are the first N retain and test samples, so
        # their logits are slices of the retain and test passes (the same 1,000-image batches
        # when N is a multiple of 1,000, as on quick: bit for bit what separate passes give).
        logits = {part: predict(model, sd.loader(part, 1000), device=self.device)
                  for part in ("test", "retain", "forget")}
        out = {col: accuracy(*logits[part])
               for col, part in (("TA", "test"), ("RA", "retain"), ("UA", "forget"))}
        (_, ym), (_, yn) = sd.mia_shadow(self.profile.mia_shadow_max)
        (lr, _), (lt, _) = logits["retain"], logits["test"]
        mia = MIAAttacker.fit(lr[:len(ym)], ym, lt[:len(yn)], yn)
        out["MIA"] = mia.member_rate(*logits["forget"])
        return out, mia

    def model(self, kind: str, method: str) -> Built:
        """"Original" or an unlearning method's model for scenario ``kind``."""
        return self.original() if method == "Original" else self.unlearned(kind, method)

    def evaluation(self, kind: str, method: str) -> dict[str, float]:
        """Cached :meth:`evaluate` of "Original" or a method's model, plus its build seconds."""
        built = self.model(kind, method)
        key = stage_key("eval", {"kind": kind, "mia_shadow_max": self.profile.mia_shadow_max,
                                 "scenario": self.profile.scenario},
                        upstream=[built.key], data=self.splits.fingerprint,
                        code=EVAL_CODE + (Experiment.evaluation,))
        _, meta, _ = cache.cached("eval", key, lambda: ({}, self.evaluate(built.model, kind)),
                                  self.force)
        return {**meta, "seconds": float(built.meta.get("seconds", float("nan")))}

    # --------------------------------------------------------------- attack
    def _uma_key(self, stage: str, kind: str, eps: float, upstream: list[str],
                 code: tuple = (), **overrides: Any) -> str:
        a = dataclasses.replace(self.profile.attack, **overrides)
        return stage_key(stage, {"attack": a, "eps": eps, "kind": kind,
                                 "seed": self.profile.seed},
                         upstream=upstream, data=self.splits.fingerprint,
                         code=UMA_CODE + (Experiment.cached_uma,) + code)

    def attack_key(self, kind: str, method: str, eps: float, **overrides: Any) -> str:
        """Cache key of :meth:`attack`."""
        return self._uma_key("uma", kind, eps,
                             [self.original_key(), self.unlearned_key(kind, method)], **overrides)

    def cached_uma(self, stage: str, kind: str, eps: float, target_model: Callable[[], Any],
                   upstream: list[str], attack: Callable[..., UMAResult] | None = None,
                   code: tuple = (), **overrides: Any) -> dict[str, Any]:
        """UMA with the profile's attack config (``overrides`` replace fields) on the scenario's
        seeded attack subset, cached under ``stage`` and keyed by ``upstream``.

        ``target_model()`` returns the model under attack (called only on a cache miss);
        ``attack`` is None (the registered "uma" probe) or a wrapper with its signature (the
        aware purification attack), whose code roots ``code`` names (:mod:`umalib.provenance`).
        Returns a dict with ``x_adv``, ``x``, ``y``, ``outputs`` (attacked model's logits on
        x_adv), ``target`` (original logits on x), ``loss``, ``loss_history`` and meta
        (seconds, images x steps per second, hit, key).
        """
        a = dataclasses.replace(self.profile.attack, **overrides)
        key = self._uma_key(stage, kind, eps, upstream, code=code, **overrides)

        def build() -> tuple[dict, dict]:
            x, y = self.scenario(kind).attack_subset(a.max_samples, self.profile.seed)
            # the registry's UMA through the probe base (modes owned and restored), or a wrapper
            run = functools.partial(run_probe, "uma") if attack is None else attack
            res = run(self.original().model, target_model(), x, labels=y, eps=eps,
                         step_size=a.step_size, steps=a.steps, loss=a.loss, init=a.init,
                         restarts=a.restarts, momentum=a.momentum, batch_size=a.batch_size,
                         fast=a.fast, seed=self.profile.seed, device=self.device,
                         progress=self.progress)
            tensors = {"x": x, "y": y, "x_adv": res.x_adv, "outputs": res.outputs,
                       "target": res.target, "loss": res.loss, "loss_history": res.loss_history}
            work = len(y) * a.steps * a.restarts
            return tensors, {"seconds": res.seconds, "throughput": work / max(res.seconds, 1e-9)}

        tensors, meta, hit = cache.cached(stage, key, build, self.force)
        return {**tensors, **meta, "hit": hit, "key": key}

    def attack(self, kind: str, method: str, eps: float, **overrides: Any) -> dict[str, Any]:
        """UMA against the ``method``-unlearned model on the scenario's attack subset (cached);
        see :meth:`cached_uma`. ``overrides`` replace fields of the attack config."""
        return self.cached_uma("uma", kind, eps, lambda: self.unlearned(kind, method).model,
                               [self.original_key(), self.unlearned_key(kind, method)],
                               **overrides)

    def attack_scores(self, kind: str, method: str, **overrides: Any) -> dict[str, float]:
        """Tables 1-2's attacked columns of one method (cached): per eps of the profile, UA and
        MIA of the attacked outputs (the MIA fitted on the model's clean shadow outputs) and the
        residual share against the retrained model, e.g. ``UA_8``, ``MIA_8``, ``residual_8``.
        Cached because the MIA fit is the slow part of reading a table from cached attacks."""
        eps_list = self.profile.attack.eps
        p = self.profile
        key = stage_key("attack_scores", {"kind": kind, "mia_shadow_max": p.mia_shadow_max,
                                     "scenario": p.scenario, "eps": eps_list},
                        upstream=[self.attack_key(kind, method, e, **overrides) for e in eps_list]
                        + [self.unlearned_key(kind, method), self.unlearned_key(kind, "retrain")],
                        data=self.splits.fingerprint,
                        code=EVAL_CODE + (Experiment.attack_scores,))

        def build() -> tuple[dict, dict]:
            model = self.unlearned(kind, method).model
            retrained = self.unlearned(kind, "retrain").model
            mia = self.mia_attacker(model, kind)
            row: dict[str, float] = {}
            for eps in eps_list:
                r = self.attack(kind, method, eps, **overrides)
                tag = budget.tag(eps)
                row.update(ua_mia(r["outputs"], r["y"], mia, f"_{tag}"))
                retr_logits, _ = predict(retrained, r["x_adv"], device=self.device)
                row[f"residual_{tag}"] = residual_knowledge(r["outputs"], retr_logits, r["y"])
            return {}, row

        _, meta, _ = cache.cached("attack_scores", key, build, self.force)
        return meta

    # ------------------------------------------------------------- relearn
    def relearn_key(self, kind: str, method: str) -> str:
        """Cache key of :meth:`relearn`."""
        p = self.profile
        return stage_key("relearn", {"relearn": p.relearn, "kind": kind, "seed": p.seed,
                                "max_samples": p.attack.max_samples},
                         upstream=[self.unlearned_key(kind, method)], data=self.splits.fingerprint,
                         code=RELEARN_CODE + (Experiment.relearn,))

    def relearn(self, kind: str, method: str) -> dict[str, Any]:
        """The relearning probe on the ``method`` model (cached): forget accuracy (%) on the
        attack subset after each of ``profile.relearn.steps`` SGD steps, with a few forget
        images in every batch (``forget``) and with retain images only (``retain``).
        Returns ``{"forget": {step: acc}, "retain": {step: acc}, "seconds": ...}``."""
        r, p = self.profile.relearn, self.profile
        sd = self.scenario(kind)

        def build() -> tuple[dict, dict]:
            model = self.unlearned(kind, method).model
            ex, ey = sd.attack_subset(p.attack.max_samples, p.seed)
            fx, fy = sd.relearn_forget(r.forget_samples, p.attack.max_samples, p.seed)
            rx, ry = sd.retain
            out: dict[str, Any] = {"seconds": 0.0}
            for variant, extra in (("forget", (fx, fy)), ("retain", (None, None))):
                res: RelearnResult = run_probe(
                    "relearn", None, model, ex, ey, rx, ry, *extra, steps=r.steps, lr=r.lr,
                    momentum=r.momentum, batch_size=r.batch_size,
                    forget_per_batch=r.forget_per_batch, seed=p.seed, device=self.device)
                out[variant] = {str(t): a for t, a in res.accuracy.items()}
                out["seconds"] += res.seconds
            return {}, out

        _, meta, hit = cache.cached("relearn", self.relearn_key(kind, method), build, self.force)
        return {**meta, "hit": hit}
