"""Cached stages and result tables of the defence experiments (notebook 04; paper Section 5.3,
Tables 4-6): ``exp.defenses`` of an :class:`~umalib.experiments.Experiment`.

Stages (content-addressed, like the discriminative ones):

- ``adv_unlearned``: a model unlearned with Eq. 6 (key: the method's config, the adversarial
  fields of the defence config, the scenario, the seed, the original model's key);
- ``uma``: UMA against such a model (same settings and attack subset as notebook 02);
- ``vae``: the purifier (key: the VAE fields of the defence config, the seed, the data);
- ``uma_aware``: UMA against the purified system end to end;
- ``defense_row``: one table row's numbers (key: every upstream artifact's key).

The plain rows (RL, SalUn, FT) reuse notebook 01's evaluations and notebook 02's attacks by key,
and the unaware purification rows score notebook 02's perturbed inputs: unaware means the
attacker crafted exactly those perturbations, against the unlearned model alone.

Columns of every table: ``method,TA,UA,MIA,UA_8,MIA_8,UA_16,MIA_16`` (for eps 8/255, 16/255):
TA/UA in %, UA = forget-set accuracy (lower is better), MIA = share of forget samples the
confidence attack calls members; clean columns over the whole forget set, attacked columns over
the seeded attack subset of notebook 02.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pandas as pd
import torch

from .. import budget, cache
from ..config import THREAT_MODELS, DefenseConfig
from ..defenses.adversarial_unlearning import adversarial_unlearning
from ..defenses.purifier import Purified, attack_aware, attack_unaware, train_vae
from ..metrics.mia import MIAAttacker, ua_mia
from ..models.vae import ConvVAE
from ..unlearn import method_spec
from .stage import EVAL_CODE, Built, cached_model, cpu_state, stage_key

if TYPE_CHECKING:
    from .discriminative import Experiment

ADV_CODE = ("umalib.defenses.adversarial_unlearning", "umalib.data.splits")
VAE_CODE = ("umalib.defenses.purifier", "umalib.models.vae")
ROW_CODE = ("umalib.defenses.purifier", "umalib.metrics.mia", "umalib.metrics.classification")

ADV_FIELDS: tuple[str, ...] = ("adv_eps", "adv_step_size", "adv_steps", "adv_weight", "adv_init")
VAE_FIELDS: tuple[str, ...] = ("vae_latent", "vae_width", "vae_epochs", "vae_lr", "vae_beta",
                               "vae_batch_size", "vae_train_subset")
ADV_SUFFIX, VAE_SUFFIX = "+adv", "+vae"


def defense_columns(eps_list: Sequence[float]) -> list[str]:
    """``method,TA,UA,MIA`` then ``UA_<t>,MIA_<t>`` per eps (t = eps * 255)."""
    return ["method", "TA", "UA", "MIA"] + [f"{m}_{budget.tag(e)}" for e in eps_list
                                            for m in ("UA", "MIA")]


def _fields(cfg: DefenseConfig, names: Sequence[str]) -> dict[str, Any]:
    return {n: getattr(cfg, n) for n in names}


class DefenseStages:
    """The defence stages of an :class:`Experiment` (``exp.defenses``): adversarial unlearning
    (Eq. 6), the VAE purifier, UMA through it, and the rows of Tables 4-6."""

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp

    def _row_cached(self, row: str, kind: str, upstream: Sequence[str],
                    compute: Callable[[], dict[str, float]], compute_code: Callable,
                    **config: Any) -> dict[str, float]:
        p = self.exp.profile
        key = stage_key("defense_row", {"row": row, "kind": kind, "eps": p.attack.eps,
                                        "mia_shadow_max": p.mia_shadow_max,
                                        "scenario": p.scenario, **config},
                        upstream=list(upstream), data=self.exp.splits.fingerprint,
                        code=ROW_CODE + (compute_code,))
        _, meta, _ = cache.cached("defense_row", key, lambda: ({}, compute()), self.exp.force)
        return meta

    # ------------------------------------------------------------------ adversarial unlearning
    def adv_key(self, kind: str, method: str) -> str:
        """Cache key of the ``method`` + Eq. 6 model for scenario ``kind``."""
        p = self.exp.profile
        return stage_key("adv_unlearned", {"method": method, "params": p.methods[method],
                                           "kind": kind, "scenario": p.scenario, "seed": p.seed,
                                           "defense": _fields(p.defense, ADV_FIELDS)},
                         upstream=[self.exp.original_key()], data=self.exp.splits.fingerprint,
                         code=ADV_CODE + (method_spec(method).module,
                                          DefenseStages.adv_unlearned))

    def adv_unlearned(self, kind: str, method: str) -> Built:
        """The model unlearned with ``method`` plus adversarial unlearning (cached). ``meta`` holds
        the extra cost: hook_calls, inner_images, inner_seconds, seconds, inner_share."""
        hooked = [m for m in self.exp.profile.methods if method_spec(m).accepts_forget_hook]
        if method not in hooked:
            raise ValueError(f"method: adversarial unlearning needs one of {hooked}, got {method!r}")
        p, sd = self.exp.profile, self.exp.scenario(kind)

        def build() -> tuple[dict, dict]:
            cfg = p.methods[method]
            orig = self.exp.original().model
            retain = sd.loader("retain", cfg.batch_size)
            forget = sd.loader("forget", cfg.batch_size)
            model, info = adversarial_unlearning(method, orig, retain, forget, cfg, p.defense,
                                                 seed=p.seed, device=self.exp.device,
                                                 progress=self.exp.progress)
            # The plain method timed here, in the same process and conditions, is the baseline of
            # the extra cost (notebook 01's build time may come from another run or machine load).
            t0 = time.perf_counter()
            method_spec(method).fn(orig, retain, forget, cfg, seed=p.seed, device=self.exp.device,
                               progress=False)
            info["plain_seconds"] = time.perf_counter() - t0
            return cpu_state(model), info

        return cached_model("adv_unlearned", self.adv_key(kind, method), build,
                            self.exp.load_model, self.exp.force)

    def adv_attack(self, kind: str, method: str, eps: float) -> dict[str, Any]:
        """UMA (the profile's attack config, notebook 02's attack subset) against the adversarially
        unlearned ``method`` model (cached). Same fields as :meth:`Experiment.attack`."""
        return self.exp.cached_uma("uma", kind, eps, lambda: self.adv_unlearned(kind, method).model,
                              [self.exp.original_key(), self.adv_key(kind, method)])

    # ----------------------------------------------------------------------------- purifier
    def vae_key(self) -> str:
        """Cache key of the purifier: the VAE fields of the defence config, the seed, the data."""
        p = self.exp.profile
        return stage_key("vae", {"vae": _fields(p.defense, VAE_FIELDS), "seed": p.seed},
                         data=self.exp.splits.fingerprint,
                         code=VAE_CODE + (DefenseStages.purifier_vae,))

    def purifier_vae(self) -> Built:
        """The VAE purifier trained on a seeded subset of the whole training split (cached).

        It is trained on all classes, forgotten ones included, so that it is a generic denoiser
        deployed independently of any unlearning request: it cannot itself "forget" a class, and a
        drop in attacked UA is the removal of the perturbation, not the VAE's doing the unlearning.
        """
        p, sp = self.exp.profile, self.exp.splits
        d = p.defense

        def build() -> tuple[dict, dict]:
            x = sp.x_train
            if d.vae_train_subset is not None and d.vae_train_subset < len(x):
                g = torch.Generator().manual_seed(p.seed + 271828)
                x = x[torch.randperm(len(x), generator=g)[:d.vae_train_subset].sort().values]
            t0 = time.perf_counter()
            vae, losses = train_vae(x, d, seed=p.seed, device=self.exp.device,
                                    progress=self.exp.progress)
            return cpu_state(vae), {"losses": losses, "seconds": time.perf_counter() - t0,
                                 "train_images": len(x)}

        def load(tensors: dict[str, torch.Tensor]) -> ConvVAE:
            c, h, _ = sp.shape
            vae = ConvVAE(c, h, d.vae_latent, d.vae_width)
            vae.load_state_dict(tensors)
            return vae.to(self.exp.device).eval()

        return cached_model("vae", self.vae_key(), build, load, self.exp.force)

    def purified(self, kind: str, method: str, vae: Built | None = None) -> Purified:
        """``Purified(VAE, the method's unlearned model)`` on the experiment's device, eval mode."""
        vae = vae or self.purifier_vae()
        unlearned = self.exp.unlearned(kind, method).model
        return Purified(vae.model, unlearned).to(self.exp.device).eval()

    def aware_attack(self, kind: str, method: str, eps: float) -> dict[str, Any]:
        """UMA against the purified ``method`` model end to end (aware attacker,
        :func:`~umalib.defenses.purifier.attack_aware`; cached). Profile attack config and notebook
        02's attack subset. ``outputs`` are purified logits on x_adv."""
        def attack(original: Any, unlearned: Any, x: torch.Tensor, **kw: Any) -> Any:
            return attack_aware(original, unlearned, self.purifier_vae().model, x, **kw).result

        return self.exp.cached_uma("uma_aware", kind, eps,
                                   lambda: self.exp.unlearned(kind, method).model,
                                   [self.exp.original_key(), self.exp.unlearned_key(kind, method),
                                    self.vae_key()], attack=attack,
                                   code=("umalib.defenses.purifier", DefenseStages.aware_attack))

    def purified_evaluation(self, kind: str, method: str, pur: Purified | None = None
                            ) -> tuple[dict[str, float], MIAAttacker]:
        """Clean TA, RA, UA, MIA of ``Purified(VAE, method model)`` (cached, shared by Tables 5 and
        6) and the MIA attacker fitted on the purified model's clean shadow outputs."""
        pur = pur or self.purified(kind, method)
        p = self.exp.profile
        key = stage_key("eval", {"kind": kind, "mia_shadow_max": p.mia_shadow_max,
                                 "scenario": p.scenario, "purified": True},
                        upstream=[self.exp.unlearned_key(kind, method), self.vae_key()],
                        data=self.exp.splits.fingerprint,
                        code=EVAL_CODE + (DefenseStages.purified_evaluation,))
        fitted: list[MIAAttacker] = []

        def build() -> tuple[dict, dict]:
            metrics, mia = self.exp.evaluate_with_attacker(pur, kind)
            fitted.append(mia)
            return {}, metrics

        _, meta, _ = cache.cached("eval", key, build, self.exp.force)
        return dict(meta), (fitted[0] if fitted else self.exp.mia_attacker(pur, kind))

    # --------------------------------------------------------------------------------- rows
    def plain_row(self, kind: str, method: str) -> dict[str, float]:
        """Clean and attacked numbers of the undefended ``method`` model (notebooks 01/02's cached
        evaluation and attacks)."""
        eps_list = self.exp.profile.attack.eps
        up = [self.exp.unlearned_key(kind, method)] + [self.exp.attack_key(kind, method, e)
                                                        for e in eps_list]

        def compute() -> dict[str, float]:
            ev = self.exp.evaluation(kind, method)
            row = {c: ev[c] for c in ("TA", "RA", "UA", "MIA")}
            mia = self.exp.mia_attacker(self.exp.unlearned(kind, method).model, kind)
            for e in eps_list:
                r = self.exp.attack(kind, method, e)
                row.update(ua_mia(r["outputs"], r["y"], mia, f"_{budget.tag(e)}"))
            return row

        return {"method": method, **self._row_cached(method, kind, up, compute,
                                                     DefenseStages.plain_row)}

    def adv_row(self, kind: str, method: str) -> dict[str, float]:
        """Clean and attacked numbers of ``method`` + adversarial unlearning, with its extra cost
        (``seconds``, ``inner_seconds``, ``hook_calls``)."""
        eps_list = self.exp.profile.attack.eps
        up = [self.adv_key(kind, method), self.exp.original_key()]

        def compute() -> dict[str, float]:
            built = self.adv_unlearned(kind, method)
            row, mia = self.exp.evaluate_with_attacker(built.model, kind)
            for e in eps_list:
                r = self.adv_attack(kind, method, e)
                row.update(ua_mia(r["outputs"], r["y"], mia, f"_{budget.tag(e)}"))
            row.update({k: built.meta[k] for k in ("seconds", "inner_seconds", "hook_calls")})
            return row

        return {"method": method + ADV_SUFFIX,
                **self._row_cached(method + ADV_SUFFIX, kind, up, compute, DefenseStages.adv_row,
                                   attack=self.exp.profile.attack)}

    def purified_row(self, kind: str, method: str, threat: str) -> dict[str, float]:
        """Numbers of ``Purified(VAE, method model)``: clean TA/UA/MIA of the purified model (MIA
        fitted on its own clean shadow outputs), attacked columns under the ``threat`` model
        ("unaware": notebook 02's perturbations, crafted against the unlearned model alone;
        "aware": UMA through the purifier)."""
        if threat not in THREAT_MODELS:
            raise ValueError(f"threat must be one of {THREAT_MODELS}, got {threat!r}")
        eps_list = self.exp.profile.attack.eps
        up = [self.exp.unlearned_key(kind, method), self.vae_key(), self.exp.original_key()]
        if threat == "unaware":
            up += [self.exp.attack_key(kind, method, e) for e in eps_list]

        def compute() -> dict[str, float]:
            vae = self.purifier_vae()
            row, mia = self.purified_evaluation(kind, method, self.purified(kind, method, vae))
            for e in eps_list:
                if threat == "unaware":  # score notebook 02's perturbations through the VAE
                    r = self.exp.attack(kind, method, e)
                    outputs = attack_unaware(self.exp.original().model,
                                             self.exp.unlearned(kind, method).model, vae.model,
                                             r["x"], eps=e, x_adv=r["x_adv"],
                                             device=self.exp.device).outputs
                else:
                    r = self.aware_attack(kind, method, e)
                    outputs = r["outputs"]
                row.update(ua_mia(outputs, r["y"], mia, f"_{budget.tag(e)}"))
            return row

        name = method + VAE_SUFFIX
        return {"method": name, **self._row_cached(f"{name} {threat}", kind, up, compute,
                                                   DefenseStages.purified_row,
                                                   attack=self.exp.profile.attack, threat=threat)}

    # ------------------------------------------------------------------------------- tables
    def _frame(self, rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(rows).reindex(columns=defense_columns(self.exp.profile.attack.eps))

    def table4(self, kind: str = "classwise", methods: Sequence[str] | None = None
               ) -> pd.DataFrame:
        """Table 4 (adversarial unlearning): rows ``m`` and ``m+adv`` for m in ``methods``
        (default the profile's ``defense.adv_methods``, e.g. RL, RL+adv, SalUn, SalUn+adv)."""
        rows = []
        for m in methods or self.exp.profile.defense.adv_methods:
            rows += [self.plain_row(kind, m), self.adv_row(kind, m)]
        return self._frame(rows)

    def _purification_table(self, kind: str, threat: str,
                            methods: Sequence[str] | None) -> pd.DataFrame:
        rows = []
        for m in methods or self.exp.profile.defense.purify_methods:
            rows += [self.plain_row(kind, m), self.purified_row(kind, m, threat)]
        return self._frame(rows)

    def table5(self, kind: str = "classwise", methods: Sequence[str] | None = None
               ) -> pd.DataFrame:
        """Table 5 (purification, attacker unaware): rows ``m``, ``m+vae`` for m in ``methods``
        (default ``defense.purify_methods``: FT, FT+vae, SalUn, SalUn+vae)."""
        return self._purification_table(kind, "unaware", methods)

    def table6(self, kind: str = "classwise", methods: Sequence[str] | None = None
               ) -> pd.DataFrame:
        """Table 6 (purification, attacker aware, UMA through the VAE): same rows as Table 5."""
        return self._purification_table(kind, "aware", methods)

    def adv_cost_table(self, kind: str = "classwise",
                       methods: Sequence[str] | None = None) -> pd.DataFrame:
        """The extra cost of Eq. 6, per method: wall seconds of the plain method and of adversarial
        unlearning (timed back to back when the +adv artifact was built), of its inner attacks, the
        hook calls, the inner-attack images and the slowdown (adversarial / plain)."""
        rows = []
        for m in methods or self.exp.profile.defense.adv_methods:
            meta = self.adv_unlearned(kind, m).meta
            plain = float(meta.get("plain_seconds", math.nan))
            rows.append({"method": m, "seconds": plain, "seconds_adv": meta["seconds"],
                         "inner_attack_seconds": meta["inner_seconds"], "hook_calls": meta["hook_calls"],
                         "inner_images": meta["inner_images"],
                         "slowdown": meta["seconds"] / plain if plain > 0 else math.nan})
        return pd.DataFrame(rows)

    @torch.no_grad()
    def purified_examples(self, kind: str, method: str, eps: float, n: int = 6
                          ) -> dict[str, torch.Tensor]:
        """Image rows for :func:`umalib.reporting.plots.image_rows`: x, VAE(x), x + delta and
        VAE(x + delta)
        for the unaware attack (notebook 02's) and the aware one, first ``n`` attacked samples."""
        vae = self.purifier_vae().model
        un = self.exp.attack(kind, method, eps)
        aw = self.aware_attack(kind, method, eps)
        rec = lambda t: vae.reconstruct(t[:n].to(self.exp.device)).cpu()  # noqa: E731
        return {"x": un["x"][:n], "VAE(x)": rec(un["x"]),
                "x + delta (unaware)": un["x_adv"][:n], "VAE(x + delta) (unaware)": rec(un["x_adv"]),
                "x + delta (aware)": aw["x_adv"][:n], "VAE(x + delta) (aware)": rec(aw["x_adv"])}
