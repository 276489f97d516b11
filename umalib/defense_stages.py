"""Cached stages and result tables of the defence experiments (notebook 04; paper Section 5.3,
Tables 4-6), built on :class:`umalib.stages.Experiment`.

Stages (content-addressed, like :mod:`umalib.stages`):

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
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import pandas as pd
import torch

from . import cache
from .config import DefenseConfig, Profile
from .defenses import THREAT_MODELS, ConvVAE, Purified, adversarial_unlearning, train_vae
from .metrics import MIAAttacker, predict, ua_mia
from .results import eps_tag
from .stages import Built, Experiment, cpu_state
from .unlearn import FORGET_SET_METHODS, unlearn

ADV_FIELDS: tuple[str, ...] = ("adv_eps", "adv_step_size", "adv_steps", "adv_weight", "adv_init")
VAE_FIELDS: tuple[str, ...] = ("vae_latent", "vae_width", "vae_epochs", "vae_lr", "vae_beta",
                               "vae_batch_size", "vae_train_subset")
ADV_SUFFIX, VAE_SUFFIX = "+adv", "+vae"


def defense_columns(eps_list: Sequence[float]) -> list[str]:
    """``method,TA,UA,MIA`` then ``UA_<t>,MIA_<t>`` per eps (t = eps * 255)."""
    return ["method", "TA", "UA", "MIA"] + [f"{m}_{eps_tag(e)}" for e in eps_list for m in ("UA", "MIA")]


def _fields(cfg: DefenseConfig, names: Sequence[str]) -> dict[str, Any]:
    return {n: getattr(cfg, n) for n in names}


def _row_cached(exp: Experiment, row: str, kind: str, upstream: Sequence[str],
                compute: Callable[[], dict[str, float]], **config: Any) -> dict[str, float]:
    p = exp.profile
    key = cache.make_key("defense_row", {"row": row, "kind": kind, "eps": p.attack.eps,
                                         "mia_shadow_max": p.mia_shadow_max,
                                         "scenario": p.scenario, **config},
                         upstream=list(upstream), data=exp.splits.fingerprint)
    _, meta, _ = cache.cached("defense_row", key, lambda: ({}, compute()), exp.force)
    return meta


# ------------------------------------------------------------------ adversarial unlearning
def adv_key(exp: Experiment, kind: str, method: str) -> str:
    """Cache key of the ``method`` + Eq. 6 model for scenario ``kind``."""
    p = exp.profile
    return cache.make_key("adv_unlearned", {"method": method, "params": p.methods[method],
                                            "kind": kind, "scenario": p.scenario, "seed": p.seed,
                                            "defense": _fields(p.defense, ADV_FIELDS)},
                          upstream=[exp.original_key()], data=exp.splits.fingerprint)


def adv_unlearned(exp: Experiment, kind: str, method: str) -> Built:
    """The model unlearned with ``method`` plus adversarial unlearning (cached). ``meta`` holds
    the extra cost: hook_calls, inner_images, inner_seconds, seconds, inner_share."""
    if method not in FORGET_SET_METHODS:
        raise ValueError(f"method: adversarial unlearning needs one of {list(FORGET_SET_METHODS)}, "
                         f"got {method!r}")
    p, sd = exp.profile, exp.scenario(kind)

    def build() -> tuple[dict, dict]:
        cfg = p.methods[method]
        orig = exp.original().model
        retain, forget = sd.loader("retain", cfg.batch_size), sd.loader("forget", cfg.batch_size)
        model, info = adversarial_unlearning(method, orig, retain, forget, cfg, p.defense,
                                             seed=p.seed, device=exp.device, progress=exp.progress)
        # The plain method timed here, in the same process and conditions, is the baseline of
        # the extra cost (notebook 01's build time may come from another run or machine load).
        t0 = time.perf_counter()
        unlearn(method, orig, retain, forget, cfg, seed=p.seed, device=exp.device, progress=False)
        info["plain_seconds"] = time.perf_counter() - t0
        return cpu_state(model), info

    key = adv_key(exp, kind, method)
    tensors, meta, hit = cache.cached("adv_unlearned", key, build, exp.force)
    return Built(exp.load_model(tensors), key, meta, hit)


def adv_attack(exp: Experiment, kind: str, method: str, eps: float) -> dict[str, Any]:
    """UMA (the profile's attack config, notebook 02's attack subset) against the adversarially
    unlearned ``method`` model (cached). Same fields as :meth:`Experiment.attack`."""
    return exp.cached_uma("uma", kind, eps, lambda: adv_unlearned(exp, kind, method).model,
                          [exp.original_key(), adv_key(exp, kind, method)])


# ----------------------------------------------------------------------------- purifier
@dataclass
class BuiltVAE:
    """The purifier VAE, its cache key, metadata (losses, seconds, train_images) and hit flag."""

    vae: ConvVAE
    key: str
    meta: dict[str, Any]
    hit: bool


def vae_key(exp: Experiment) -> str:
    """Cache key of the purifier: the VAE fields of the defence config, the seed, the data."""
    p = exp.profile
    return cache.make_key("vae", {"vae": _fields(p.defense, VAE_FIELDS), "seed": p.seed},
                          data=exp.splits.fingerprint)


def purifier_vae(exp: Experiment) -> BuiltVAE:
    """The VAE purifier trained on a seeded subset of the whole training split (cached).

    It is trained on all classes, forgotten ones included, so that it is a generic denoiser
    deployed independently of any unlearning request: it cannot itself "forget" a class, and a
    drop in attacked UA is the removal of the perturbation, not the VAE's doing the unlearning.
    """
    p, sp = exp.profile, exp.splits
    d = p.defense

    def build() -> tuple[dict, dict]:
        x = sp.x_train
        if d.vae_train_subset is not None and d.vae_train_subset < len(x):
            g = torch.Generator().manual_seed(p.seed + 271828)
            x = x[torch.randperm(len(x), generator=g)[:d.vae_train_subset].sort().values]
        t0 = time.perf_counter()
        vae, losses = train_vae(x, d, seed=p.seed, device=exp.device, progress=exp.progress)
        return cpu_state(vae), {"losses": losses, "seconds": time.perf_counter() - t0,
                             "train_images": len(x)}

    key = vae_key(exp)
    tensors, meta, hit = cache.cached("vae", key, build, exp.force)
    c, h, _ = sp.shape
    vae = ConvVAE(c, h, d.vae_latent, d.vae_width)
    vae.load_state_dict(tensors)
    return BuiltVAE(vae.to(exp.device).eval(), key, meta, hit)


def purified(exp: Experiment, kind: str, method: str, vae: BuiltVAE | None = None) -> Purified:
    """``Purified(VAE, the method's unlearned model)`` on the experiment's device, eval mode."""
    vae = vae or purifier_vae(exp)
    return Purified(vae.vae, exp.unlearned(kind, method).model).to(exp.device).eval()


def aware_attack(exp: Experiment, kind: str, method: str, eps: float) -> dict[str, Any]:
    """UMA against the purified ``method`` model end to end (aware attacker; cached). Profile
    attack config and notebook 02's attack subset. ``outputs`` are purified logits on x_adv."""
    return exp.cached_uma("uma_aware", kind, eps, lambda: purified(exp, kind, method),
                          [exp.original_key(), exp.unlearned_key(kind, method), vae_key(exp)])


def purified_evaluation(exp: Experiment, kind: str, method: str, pur: Purified | None = None
                        ) -> tuple[dict[str, float], MIAAttacker]:
    """Clean TA, RA, UA, MIA of ``Purified(VAE, method model)`` (cached, shared by Tables 5 and
    6) and the MIA attacker fitted on the purified model's clean shadow outputs."""
    pur = pur or purified(exp, kind, method)
    key = cache.make_key("eval", {"kind": kind, "mia_shadow_max": exp.profile.mia_shadow_max,
                                  "scenario": exp.profile.scenario, "purified": True},
                         upstream=[exp.unlearned_key(kind, method), vae_key(exp)],
                         data=exp.splits.fingerprint)
    fitted: list[MIAAttacker] = []

    def build() -> tuple[dict, dict]:
        metrics, mia = exp.evaluate_with_attacker(pur, kind)
        fitted.append(mia)
        return {}, metrics

    _, meta, _ = cache.cached("eval", key, build, exp.force)
    return dict(meta), (fitted[0] if fitted else exp.mia_attacker(pur, kind))


# --------------------------------------------------------------------------------- rows
def plain_row(exp: Experiment, kind: str, method: str) -> dict[str, float]:
    """Clean and attacked numbers of the undefended ``method`` model (notebooks 01/02's cached
    evaluation and attacks)."""
    eps_list = exp.profile.attack.eps
    up = [exp.unlearned_key(kind, method)] + [exp.attack_key(kind, method, e) for e in eps_list]

    def compute() -> dict[str, float]:
        ev = exp.evaluation(kind, method)
        row = {c: ev[c] for c in ("TA", "RA", "UA", "MIA")}
        mia = exp.mia_attacker(exp.unlearned(kind, method).model, kind)
        for e in eps_list:
            r = exp.attack(kind, method, e)
            row.update(ua_mia(r["outputs"], r["y"], mia, f"_{eps_tag(e)}"))
        return row

    return {"method": method, **_row_cached(exp, method, kind, up, compute)}


def adv_row(exp: Experiment, kind: str, method: str) -> dict[str, float]:
    """Clean and attacked numbers of ``method`` + adversarial unlearning, with its extra cost
    (``seconds``, ``inner_seconds``, ``hook_calls``)."""
    eps_list = exp.profile.attack.eps
    up = [adv_key(exp, kind, method), exp.original_key()]

    def compute() -> dict[str, float]:
        built = adv_unlearned(exp, kind, method)
        row, mia = exp.evaluate_with_attacker(built.model, kind)
        for e in eps_list:
            r = adv_attack(exp, kind, method, e)
            row.update(ua_mia(r["outputs"], r["y"], mia, f"_{eps_tag(e)}"))
        row.update({k: built.meta[k] for k in ("seconds", "inner_seconds", "hook_calls")})
        return row

    return {"method": method + ADV_SUFFIX, **_row_cached(exp, method + ADV_SUFFIX, kind, up, compute,
                                                          attack=exp.profile.attack)}


def purified_row(exp: Experiment, kind: str, method: str, threat: str) -> dict[str, float]:
    """Numbers of ``Purified(VAE, method model)``: clean TA/UA/MIA of the purified model (MIA
    fitted on its own clean shadow outputs), attacked columns under the ``threat`` model
    ("unaware": notebook 02's perturbations, crafted against the unlearned model alone;
    "aware": UMA through the purifier)."""
    if threat not in THREAT_MODELS:
        raise ValueError(f"threat must be one of {THREAT_MODELS}, got {threat!r}")
    eps_list = exp.profile.attack.eps
    up = [exp.unlearned_key(kind, method), vae_key(exp), exp.original_key()]
    if threat == "unaware":
        up += [exp.attack_key(kind, method, e) for e in eps_list]

    def compute() -> dict[str, float]:
        pur = purified(exp, kind, method)
        row, mia = purified_evaluation(exp, kind, method, pur)
        for e in eps_list:
            if threat == "unaware":
                r = exp.attack(kind, method, e)
                outputs, _ = predict(pur, r["x_adv"], device=exp.device)
            else:
                r = aware_attack(exp, kind, method, e)
                outputs = r["outputs"]
            row.update(ua_mia(outputs, r["y"], mia, f"_{eps_tag(e)}"))
        return row

    name = method + VAE_SUFFIX
    return {"method": name, **_row_cached(exp, f"{name} {threat}", kind, up, compute,
                                          attack=exp.profile.attack, threat=threat)}


# ------------------------------------------------------------------------------- tables
def _frame(exp: Experiment, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).reindex(columns=defense_columns(exp.profile.attack.eps))


def table4(exp: Experiment, kind: str = "classwise", methods: Sequence[str] | None = None
           ) -> pd.DataFrame:
    """Table 4 (adversarial unlearning): rows ``m`` and ``m+adv`` for m in ``methods``
    (default the profile's ``defense.adv_methods``, e.g. RL, RL+adv, SalUn, SalUn+adv)."""
    rows = []
    for m in methods or exp.profile.defense.adv_methods:
        rows += [plain_row(exp, kind, m), adv_row(exp, kind, m)]
    return _frame(exp, rows)


def _purification_table(exp: Experiment, kind: str, threat: str,
                        methods: Sequence[str] | None) -> pd.DataFrame:
    rows = []
    for m in methods or exp.profile.defense.purify_methods:
        rows += [plain_row(exp, kind, m), purified_row(exp, kind, m, threat)]
    return _frame(exp, rows)


def table5(exp: Experiment, kind: str = "classwise", methods: Sequence[str] | None = None
           ) -> pd.DataFrame:
    """Table 5 (purification, attacker unaware): rows ``m``, ``m+vae`` for m in ``methods``
    (default ``defense.purify_methods``: FT, FT+vae, SalUn, SalUn+vae)."""
    return _purification_table(exp, kind, "unaware", methods)


def table6(exp: Experiment, kind: str = "classwise", methods: Sequence[str] | None = None
           ) -> pd.DataFrame:
    """Table 6 (purification, attacker aware, UMA through the VAE): same rows as Table 5."""
    return _purification_table(exp, kind, "aware", methods)


def adv_cost_table(exp: Experiment, kind: str = "classwise",
                   methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The extra cost of Eq. 6, per method: wall seconds of the plain method and of adversarial
    unlearning (timed back to back when the +adv artifact was built), of its inner attacks, the
    hook calls, the inner-attack images and the slowdown (adversarial / plain)."""
    rows = []
    for m in methods or exp.profile.defense.adv_methods:
        meta = adv_unlearned(exp, kind, m).meta
        plain = float(meta.get("plain_seconds", math.nan))
        rows.append({"method": m, "seconds": plain, "seconds_adv": meta["seconds"],
                     "inner_attack_seconds": meta["inner_seconds"], "hook_calls": meta["hook_calls"],
                     "inner_images": meta["inner_images"],
                     "slowdown": meta["seconds"] / plain if plain > 0 else math.nan})
    return pd.DataFrame(rows)


def defense_notes(profile: Profile, n_attacked: int) -> list[str]:
    """Plain-text notes for the tables: defence and attack settings, subset sizes."""
    d, a = profile.defense, profile.attack
    return [
        f"adversarial unlearning (Eq. 6): inner UMA per forget batch, eps {d.adv_eps * 255:g}/255, "
        f"{d.adv_steps} steps of {d.adv_step_size * 255:g}/255, {d.adv_init} start, weight {d.adv_weight:g}",
        f"purifier: conv VAE, latent {d.vae_latent}, width {d.vae_width}, {d.vae_epochs} epochs, "
        f"beta {d.vae_beta:g}, trained on "
        + (f"{d.vae_train_subset} seeded" if d.vae_train_subset else "all")
        + " training images (all classes); reconstruction = posterior mean",
        f"UMA: eps {[round(e * 255) for e in a.eps]}/255, step {a.step_size * 255:g}/255, {a.steps} steps, "
        f"loss {a.loss}; attacked columns over the seeded subset of {n_attacked} forget samples of "
        "notebook 02, clean columns over the whole forget set",
        "+vae rows: TA/UA/MIA of the purified model, MIA fitted on its own clean shadow outputs",
    ]


def tradeoff_frame(t4: pd.DataFrame, t5: pd.DataFrame, t6: pd.DataFrame) -> pd.DataFrame:
    """Every defended and undefended model once, for a utility / robustness scatter: Table 4's
    rows, Table 5's plain rows, and the +vae rows labelled with their threat model."""
    parts = [t4, t5[~t5["method"].str.endswith(VAE_SUFFIX)]]
    for t, threat in ((t5, "unaware"), (t6, "aware")):
        v = t[t["method"].str.endswith(VAE_SUFFIX)].copy()
        v["method"] = v["method"] + f" ({threat})"
        parts.append(v)
    return pd.concat(parts, ignore_index=True).drop_duplicates("method")


@torch.no_grad()
def purified_examples(exp: Experiment, kind: str, method: str, eps: float, n: int = 6
                      ) -> dict[str, torch.Tensor]:
    """Image rows for :func:`umalib.plots.image_rows`: x, VAE(x), x + delta and VAE(x + delta)
    for the unaware attack (notebook 02's) and the aware one, first ``n`` attacked samples."""
    vae = purifier_vae(exp).vae
    un = exp.attack(kind, method, eps)
    aw = aware_attack(exp, kind, method, eps)
    rec = lambda t: vae.reconstruct(t[:n].to(exp.device)).cpu()  # noqa: E731
    return {"x": un["x"][:n], "VAE(x)": rec(un["x"]),
            "x + delta (unaware)": un["x_adv"][:n], "VAE(x + delta) (unaware)": rec(un["x_adv"]),
            "x + delta (aware)": aw["x_adv"][:n], "VAE(x + delta) (aware)": rec(aw["x_adv"])}


# ----------------------------------------------------------------------------- findings
def _get(df: pd.DataFrame, method: str) -> pd.Series | None:
    m = df[df["method"] == method]
    return None if m.empty else m.iloc[0]


def _defended_pairs(df: pd.DataFrame, suffix: str) -> Iterator[tuple[str, pd.Series, pd.Series]]:
    """(name, undefended row, defended row) for every ``<m><suffix>`` row whose ``m`` is there."""
    for name in df["method"]:
        if name.endswith(suffix):
            base = _get(df, name[:-len(suffix)])
            if base is not None:
                yield name, base, _get(df, name)


def defense_findings(t4: pd.DataFrame, t5: pd.DataFrame, t6: pd.DataFrame,
                     eps_tags: tuple[str, str] = ("8", "16"), ta_tolerance: float = 5.0
                     ) -> list[dict[str, Any]]:
    """Plain-language checks computed from the three tables. One record per check with
    ``check`` (what), ``met`` (bool) and ``sentence`` (the numbers in words):

    - for each ``m+adv`` row: lower UA at the larger eps than ``m`` with a TA drop of at most
      ``ta_tolerance`` points (the quick profile's goal for RL);
    - for each unaware ``m+vae`` row: lower UA at the smaller eps than ``m`` (no purification);
    - for each aware ``m+vae`` row (reported, no goal): UA at the smaller eps vs ``m`` and vs
      the unaware attacker.
    """
    lo, hi = eps_tags
    out: list[dict[str, Any]] = []
    for name, base, adv in _defended_pairs(t4, ADV_SUFFIX):
        lower = bool(adv[f"UA_{hi}"] < base[f"UA_{hi}"])
        drop = float(base["TA"] - adv["TA"])
        met = lower and drop <= ta_tolerance
        out.append({"check": f"{name}: lower UA at {hi}/255 than {base['method']}, TA within "
                             f"{ta_tolerance:g} points", "met": met,
                    "sentence": f"{name} {'meets' if met else 'does not meet'} the goal: UA under UMA at "
                                f"{hi}/255 is {adv[f'UA_{hi}']:.2f}% vs {base[f'UA_{hi}']:.2f}% for plain "
                                f"{base['method']} ({'lower' if lower else 'not lower'}), and TA is "
                                f"{adv['TA']:.2f}% vs {base['TA']:.2f}% (a drop of {drop:.2f} points, "
                                f"{'within' if drop <= ta_tolerance else 'beyond'} {ta_tolerance:g})."})
    for t, threat in ((t5, "unaware"), (t6, "aware")):
        for name, base, pur in _defended_pairs(t, VAE_SUFFIX):
            lower = bool(pur[f"UA_{lo}"] < base[f"UA_{lo}"])
            s = (f"With an {threat} attacker, purification {'lowers' if lower else 'does not lower'} "
                 f"UA under UMA at {lo}/255 for {base['method']}: {pur[f'UA_{lo}']:.2f}% with the VAE "
                 f"vs {base[f'UA_{lo}']:.2f}% without (clean TA {pur['TA']:.2f}% vs {base['TA']:.2f}%).")
            rec = {"check": f"{name} ({threat}): lower UA at {lo}/255 than {base['method']}",
                   "met": lower, "sentence": s}
            if threat == "aware":
                un = _get(t5, name)
                if un is not None:
                    rec["sentence"] += (f" The aware attacker reaches {pur[f'UA_{lo}']:.2f}% where the "
                                        f"unaware one reached {un[f'UA_{lo}']:.2f}%.")
            out.append(rec)
    return out


__all__ = [
    "ADV_FIELDS", "VAE_FIELDS", "defense_columns", "adv_key", "adv_unlearned",
    "adv_attack", "BuiltVAE", "vae_key", "purifier_vae", "purified", "purified_evaluation",
    "aware_attack", "plain_row",
    "adv_row", "purified_row", "table4", "table5", "table6", "adv_cost_table", "defense_notes",
    "tradeoff_frame", "purified_examples", "defense_findings",
]
