"""Result tables of the discriminative experiments (notebooks 01 and 02), built from the
cached stages of :class:`~umalib.experiments.Experiment`.

Column conventions (as the paper's tables): TA/RA/UA in %, UA = accuracy on the forget set
(lower is better), MIA = share of forget samples the confidence attack calls members, in
[0, 1] (lower is better), residual = share of attacked forget samples recognised by the
unlearned model but not by the retrained one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import pandas as pd

from ..config import METHODS
from ..metrics.classification import accuracy, predict, residual_knowledge
from ..metrics.mia import ua_mia

if TYPE_CHECKING:
    from .discriminative import Experiment

ROWS: tuple[str, ...] = ("Original",) + METHODS
UNLEARNING_COLUMNS = ["method", "TA", "RA", "UA", "MIA", "seconds"]


def eps_tag(eps: float) -> str:
    """8/255 -> "8" (column suffix)."""
    v = eps * 255
    return f"{v:.0f}" if abs(v - round(v)) < 1e-6 else f"{v:.2g}"


def attack_columns(eps_list: Sequence[float]) -> list[str]:
    """``method,TA,UA,MIA,UA_8,MIA_8,UA_16,MIA_16,residual_8,residual_16`` for (8/255, 16/255)."""
    tags = [eps_tag(e) for e in eps_list]
    return (["method", "TA", "UA", "MIA"] + [f"{m}_{t}" for t in tags for m in ("UA", "MIA")]
            + [f"residual_{t}" for t in tags])


def unlearning_table(exp: Experiment, kind: str, methods: Sequence[str] = METHODS) -> pd.DataFrame:
    """Rows Original + ``methods``; columns :data:`UNLEARNING_COLUMNS` (seconds = wall time
    of training / unlearning when the artifact was built)."""
    rows = []
    for m in ("Original",) + tuple(methods):
        ev = exp.evaluation(kind, m)
        rows.append({"method": m, **{c: ev[c] for c in UNLEARNING_COLUMNS[1:]}})
    return pd.DataFrame(rows, columns=UNLEARNING_COLUMNS)


def attack_table(exp: Experiment, kind: str, methods: Sequence[str] = METHODS,
                 **attack_overrides: object) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Tables 1/2: clean TA/UA/MIA (whole forget set) and UA/MIA/residual under UMA at each
    of the profile's eps (on the attack subset). Returns the table and, per method, the raw
    attack results by eps (for figures).
    """
    eps_list = exp.profile.attack.eps
    retrained = exp.unlearned(kind, "retrain").model
    rows, raw = [], {}
    for m in ("Original",) + tuple(methods):
        ev = exp.evaluation(kind, m)
        row = {"method": m, "TA": ev["TA"], "UA": ev["UA"], "MIA": ev["MIA"]}
        if m != "Original":  # the paper shows "-": attacking the original against itself is void
            model = exp.unlearned(kind, m).model
            mia = exp.mia_attacker(model, kind)
            raw[m] = {}
            for eps in eps_list:
                r = exp.attack(kind, m, eps, **attack_overrides)
                t = eps_tag(eps)
                row.update(ua_mia(r["outputs"], r["y"], mia, f"_{t}"))
                retr_logits, _ = predict(retrained, r["x_adv"], device=exp.device)
                row[f"residual_{t}"] = residual_knowledge(r["outputs"], retr_logits, r["y"])
                raw[m][eps] = r
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=attack_columns(eps_list)), raw


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
