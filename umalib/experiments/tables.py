"""Result tables of the discriminative experiments (notebooks 01 and 02), built from the
cached stages of :class:`~umalib.experiments.Experiment`.

Column conventions (as the paper's tables): TA/RA/UA in %, UA = accuracy on the forget set
(lower is better), MIA = share of forget samples the confidence attack calls members, in
[0, 1] (lower is better), residual = share of attacked forget samples recognised by the
unlearned model but not by the retrained one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Sequence

import pandas as pd

from .. import budget
from ..metrics.classification import accuracy
from ..unlearn import method_spec

if TYPE_CHECKING:
    from .discriminative import Experiment

UNLEARNING_COLUMNS = ["method", "TA", "RA", "UA", "MIA", "seconds"]


def attack_columns(eps_list: Sequence[float], relearn_steps: Sequence[int] = ()) -> list[str]:
    """``method,TA,UA,MIA,UA_8,MIA_8,UA_16,MIA_16,residual_8,residual_16`` for (8/255, 16/255),
    then the relearning probe's ``relearn_<k>`` for each step count k and
    ``relearn_retain_<last k>`` (retain-only relearning) when ``relearn_steps`` is given."""
    tags = [budget.tag(e) for e in eps_list]
    relearn = [f"relearn_{k}" for k in relearn_steps]
    relearn += [f"relearn_retain_{relearn_steps[-1]}"] if relearn_steps else []
    return (["method", "TA", "UA", "MIA"] + [f"{m}_{t}" for t in tags for m in ("UA", "MIA")]
            + [f"residual_{t}" for t in tags] + relearn)


def relearn_row(exp: Experiment, kind: str, method: str) -> dict[str, float]:
    """The relearning probe's columns of one method (forget accuracy in % on the attack subset
    after k steps; see :meth:`Experiment.relearn`)."""
    r, steps = exp.relearn(kind, method), exp.profile.relearn.steps
    row = {f"relearn_{k}": r["forget"][str(k)] for k in steps}
    row[f"relearn_retain_{steps[-1]}"] = r["retain"][str(steps[-1])]
    return row


def unlearning_table(exp: Experiment, kind: str, methods: Sequence[str] | None = None
                     ) -> pd.DataFrame:
    """Rows Original + ``methods`` (default: the profile's, in order); columns
    :data:`UNLEARNING_COLUMNS` (seconds = wall time of training / unlearning when the artifact
    was built)."""
    rows = []
    for m in ("Original",) + tuple(exp.profile.methods if methods is None else methods):
        ev = exp.evaluation(kind, m)
        rows.append({"method": m, **{c: ev[c] for c in UNLEARNING_COLUMNS[1:]}})
    return pd.DataFrame(rows, columns=UNLEARNING_COLUMNS)


def attack_table(exp: Experiment, kind: str, methods: Sequence[str] | None = None,
                 **attack_overrides: object) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Tables 1/2: clean TA/UA/MIA (whole forget set), UA/MIA/residual under UMA at each of the
    profile's eps (on the attack subset) and the relearning probe's forget accuracy after k
    steps (``relearn_<k>``, same subset; not in the paper). Returns the table and, per method,
    the raw attack results by eps (for figures).
    """
    eps_list = exp.profile.attack.eps
    rows, raw = [], {}
    for m in ("Original",) + tuple(exp.profile.methods if methods is None else methods):
        ev = exp.evaluation(kind, m)
        row = {"method": m, "TA": ev["TA"], "UA": ev["UA"], "MIA": ev["MIA"]}
        if m != "Original":  # the paper shows "-": attacking the original against itself is void
            raw[m] = {eps: exp.attack(kind, m, eps, **attack_overrides) for eps in eps_list}
            row.update(exp.attack_scores(kind, m, **attack_overrides))
            row.update(relearn_row(exp, kind, m))
        rows.append(row)
    columns = attack_columns(eps_list, exp.profile.relearn.steps)
    return pd.DataFrame(rows).reindex(columns=columns), raw


def original_table(exp: Experiment) -> pd.DataFrame:
    """One row on the original model: architecture, data, epochs, training and test accuracy
    (%), training seconds (when its artifact was built) and whether it came from the cache."""
    from ..data.splits import BatchLoader

    built, sp, p = exp.original(), exp.splits, exp.profile
    acc = {part: accuracy(built.model, BatchLoader(x, y, 1000), device=exp.device)
           for part, x, y in (("train", sp.x_train, sp.y_train), ("test", sp.x_test, sp.y_test))}
    return pd.DataFrame([{"model": f"original ({p.model.arch})", "dataset": sp.name,
                          "train_images": len(sp.y_train), "epochs": p.train.epochs,
                          "train_acc": acc["train"], "test_acc": acc["test"],
                          "seconds": float(built.meta["seconds"]), "from_cache": built.hit}])


def throughput(*raws: dict[str, dict]) -> float:
    """Mean attack throughput (images x steps per second) over the attacks of
    :func:`attack_table`'s raw results that were built in this run (NaN when all came from
    the cache)."""
    vals = [r["throughput"] for raw in raws for per in raw.values() for r in per.values()
            if not r["hit"]]
    return sum(vals) / len(vals) if vals else math.nan


PROBE_COLUMNS = ["method", "UA", "UA_uma", "UA_relearn", "UA_relearn_retain", "uma_seconds",
                 "relearn_seconds"]


def probe_table(exp: Experiment, kind: str, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """What each probe finds and what it costs, per unlearned model, on the same attack subset:
    forget accuracy (%) without a probe (``UA``), under UMA at the profile's first eps
    (``UA_uma``), after the relearning probe's last step count with a few forget images
    (``UA_relearn``) and with retain images only (``UA_relearn_retain``); the seconds each
    probe took when its artifact was built (both relearning variants together)."""
    eps, last = exp.profile.attack.eps[0], str(exp.profile.relearn.steps[-1])
    rows = []
    for m in (exp.profile.methods if methods is None else methods):
        att, rel = exp.attack(kind, m, eps), exp.relearn(kind, m)
        ua_uma = float((att["outputs"].argmax(1) == att["y"]).float().mean()) * 100
        rows.append({"method": m, "UA": rel["forget"]["0"], "UA_uma": ua_uma,
                     "UA_relearn": rel["forget"][last], "UA_relearn_retain": rel["retain"][last],
                     "uma_seconds": float(att["seconds"]), "relearn_seconds": float(rel["seconds"])})
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


def method_table(exp: Experiment) -> pd.DataFrame:
    """The profile's unlearning methods: whether each reads the forget set, the settings the
    profile changed from the method's registered defaults (the paper's or its reference
    code's), why, and where the implementation's facts come from."""
    rows = []
    for m, cfg in exp.profile.methods.items():
        spec = method_spec(m)
        default = spec.config()
        changed = [f"{f.name} {getattr(cfg, f.name)!r} (default {getattr(default, f.name)!r})"
                   for f in dataclasses.fields(cfg)
                   if f.name != "note" and getattr(cfg, f.name) != getattr(default, f.name)]
        rows.append({"method": m, "reads forget set": spec.uses_forget_set,
                     "changed from the defaults": "; ".join(changed) or "none",
                     "why": cfg.note, "reference": spec.reference})
    return pd.DataFrame(rows)
