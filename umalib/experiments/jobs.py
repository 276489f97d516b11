"""The stage graph of the notebook series, as jobs that fill the cache.

Each job builds, for one profile and seed, every cached artifact one part of the series reads,
by calling the same stage and table functions the notebooks call (so the notebooks afterwards
only aggregate and draw: every stage is a cache hit). Jobs of one seed depend on each other as
the stages do; jobs of different seeds are independent.

    original -> unlearned -> attacks -> defenses
                unlearned -> ablations
                unlearned -> verification
    generative (the MAE stages need no classifier) -> input size study
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Any, Callable, Mapping

from .. import allocator, cache, config, verify
from ..config import SCENARIOS
from ..unlearn import method_spec
from . import input_size, tables
from .discriminative import Experiment


def _original(e: Experiment) -> None:
    tables.original_table(e)


def _unlearned(e: Experiment) -> None:
    for kind in SCENARIOS:
        tables.unlearning_table(e, kind)


def _attacks(e: Experiment) -> None:
    for kind in SCENARIOS:
        tables.attack_table(e, kind)


def _generative(e: Experiment) -> None:
    g = e.generative
    g.tables()
    g.original_error()
    g.budget_curve()


def _input_size(e: Experiment) -> None:
    if input_size.why_not(e.profile) is None:
        input_size.study_table(e)


def _defenses(e: Experiment) -> None:
    d = e.defenses
    for table in (d.table4, d.table5, d.table6, d.adv_cost_table):
        table("classwise")
    d.purified_examples("classwise", e.profile.defense.purify_methods[0], e.profile.attack.eps[0])


def _ablations(e: Experiment) -> None:
    e.ablations.figure4()
    e.ablations.figure5()


def _verification(e: Experiment) -> None:
    e.verification.table()


# name -> (what it builds, the jobs of the same seed it needs first)
JOBS: dict[str, tuple[Callable[[Experiment], None], tuple[str, ...]]] = {
    "original": (_original, ()),
    "unlearned": (_unlearned, ("original",)),
    "generative": (_generative, ()),
    # after the native generative job, whose MAE stages it reads at the native size
    "input_size": (_input_size, ("generative",)),
    "attacks": (_attacks, ("unlearned",)),
    "ablations": (_ablations, ("unlearned",)),
    "verification": (_verification, ("unlearned",)),
    "defenses": (_defenses, ("attacks",)),
}


# notebook number -> the jobs whose stages it reads (every seed's; their needs come first
# anyway): a notebook can run as soon as these are built, while other jobs still build.
NOTEBOOK_JOBS: dict[str, tuple[str, ...]] = {
    "00": ("original",), "01": ("unlearned",), "02": ("attacks", "verification"),
    "03": ("generative", "input_size"), "04": ("defenses",), "05": ("ablations",)}


def waves(names: list[str] | None = None) -> list[list[str]]:
    """The jobs in dependency order, grouped so that every job's needs are in earlier groups.
    ``names`` restricts the jobs (their needs are added)."""
    wanted: set[str] = set()
    todo = list(names or JOBS)
    while todo:
        n = todo.pop()
        if n not in JOBS:
            raise ValueError(f"unknown job {n!r}; known: {list(JOBS)}")
        if n not in wanted:
            wanted.add(n)
            todo += JOBS[n][1]
    out: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(wanted):
        ready = [n for n in JOBS if n in wanted and n not in done and set(JOBS[n][1]) <= done]
        out.append(ready)
        done |= set(ready)
    return out


def load_profile(name: str, overrides: Mapping[str, Any] | None = None, seed: int = 0
                 ) -> config.Profile:
    """The profile with ``overrides`` (dotted names) and ``seed`` (validated)."""
    prof = config.load(name, **dict(overrides or {}))
    return dataclasses.replace(prof, seed=seed)


def run_job(profile: str, seed: int, name: str, overrides: Mapping[str, Any] | None = None,
            device: str = "cpu") -> dict[str, Any]:
    """Build job ``name`` for one seed into the cache (``$UMALIB_CACHE``) and return a summary:
    job, seed, seconds, built (artifacts computed), cached (artifacts found). Raises whatever
    the stages raise."""
    if name not in JOBS:
        raise ValueError(f"unknown job {name!r}; known: {list(JOBS)}")
    exp = Experiment(load_profile(profile, overrides, seed), device=device, progress=False)
    t0 = time.perf_counter()
    with cache.recording() as events:
        JOBS[name][0](exp)
    return {"job": name, "seed": seed, "seconds": time.perf_counter() - t0,
            "built": events.count("miss"), "cached": events.count("hit")}


def preflight(profile: str, names: list[str], overrides: Mapping[str, Any] | None = None,
              seed: int | None = None) -> None:
    """Fail now, in one line, where jobs ``names`` would fail on a node for want of files: the
    profile's dataset, and for the generative job its model directory, ImageNet folders,
    ``transformers`` and the Inception weights. Raises ``FileNotFoundError`` / ``ImportError``
    / ``ValueError``; reads configs and folder names only, besides the dataset itself."""
    exp = Experiment(load_profile(profile, overrides, seed), progress=False)
    if any(n not in ("generative", "input_size") for n in names):
        _ = exp.splits  # loading is the check
    if "generative" in names or "input_size" in names:
        _ = exp.generative  # its constructor checks files and parameters


def run_job_reporting(profile: str, seed: int, name: str, overrides: Mapping[str, Any] | None,
                      device: str, threads: int = 0) -> dict[str, Any]:
    """:func:`run_job` for an executor: ``threads`` > 0 sets torch's thread count (jobs that
    share a machine should not oversubscribe it), and the process's malloc keeps freed pages
    (:func:`umalib.allocator.keep_freed_memory`); prints the traceback (into the job's log) on
    failure and re-raises, so the sweep sees the failure and the log holds the reason."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    allocator.keep_freed_memory()  # warm pages for repeated batches; no number changes
    try:
        return run_job(profile, seed, name, overrides, device)
    except Exception:
        traceback.print_exc()
        raise


def _dataset_size(p: config.Profile) -> tuple[int, int]:
    """(training images after the validation hold-out and subset, test images), from the
    official split sizes: the cost model needs no data on disk."""
    train, test = {"fashion-mnist": (60000, 10000), "cifar10": (50000, 10000),
                   "cifar100": (50000, 10000), "tiny-imagenet": (100000, 10000)}[p.data.dataset]
    train = int(round(train * (1 - p.data.val_fraction)))
    return min(train, p.data.train_subset or train), min(test, p.data.test_subset or test)


def job_costs(p: config.Profile) -> dict[str, float]:
    """Per job of one seed, the image passes (a forward and a backward each; an attack step
    counts as one) that the profile asks for: the basis of a GPU-hour estimate (divide by a
    measured throughput). The generative job's passes are the MAE's, at its own image size,
    not the classifier's. Evaluations and MIA fits are left out, so the estimate is a lower
    bound on compute."""
    n, _ = _dataset_size(p)
    classes = 10 if p.data.dataset != "cifar100" else 100
    forget = {"classwise": n * len(p.scenario.forget_classes) / classes,
              "instancewise": p.scenario.forget_count}
    a, ab, d, m = p.attack, p.ablation, p.defense, p.methods
    cost = {"original": p.train.epochs * n}
    unl = 0.0
    for f in forget.values():
        retain = n - f
        for k, c in m.items():  # epochs over what the method reads, plus per-sample passes
            reads = (retain + f) if method_spec(k).uses_forget_set else retain
            unl += c.epochs * reads + getattr(c, "samples", 0)  # (IU's WoodFisher samples)
    cost["unlearned"] = unl
    attacked = {k: min(f, a.max_samples or f) for k, f in forget.items()}
    approx = len(m) - 1  # every method but retrain is attacked
    cost["attacks"] = sum(attacked.values()) * approx * len(a.eps) * a.steps * a.restarts
    abl = min(forget[ab.scenario], ab.max_samples or forget[ab.scenario]) * len(ab.methods)
    cost["ablations"] = abl * (max(ab.steps) + len(ab.step_sizes) * ab.fixed_steps)
    f_cw = forget["classwise"]
    inner = sum(m[k].epochs * (n + d.adv_steps * f_cw) for k in d.adv_methods)
    cost["defenses"] = (inner + attacked["classwise"] * a.steps * len(a.eps)
                        * (len(d.adv_methods) + len(d.purify_methods)))
    v = p.verify
    ladder = verify.ladder(v.strength, a.steps, a.step_size)
    per_sample = sum(r.steps * r.restarts for r in ladder)
    if v.strength == "strong":  # the label-guided bound runs the last rung's budget again
        per_sample += ladder[-1].steps * ladder[-1].restarts
    cost["verification"] = sum(min(forget[k], v.max_samples or forget[k]) * per_sample
                               for k, _ in v.models)
    g = p.generative
    # MAE training, 2 methods' unlearning, and UMA on 2 methods x 2 sides at Table 7's budget,
    # unbounded and every other budget of the curve
    budgets = 2 + sum(abs(e - g.eps) > 1e-6 * g.eps for e in set(g.budget_eps))
    # (a pretrained MAE is loaded, not trained; its passes are the MAE's own image size)
    training = 0 if g.pretrained else g.epochs * min(n, g.train_subset)
    cost["generative"] = (training + 2 * g.unlearn_epochs * 2 * g.unlearn_samples
                          + 2 * 2 * budgets * g.eval_samples * g.steps)
    # the same per size of the input-size study but the native one (the generative job's), at
    # its sample count and budgets; an image pass costs about the same at every size (the
    # transformer is the same)
    st = p.input_size
    cost["input_size"] = 0 if input_size.why_not(p) else max(0, len(st.sizes) - 1) * (
        training + 2 * g.unlearn_epochs * 2 * g.unlearn_samples
        + 2 * 2 * (len(st.budget_eps) + 1) * st.samples * g.steps)
    return cost


# Longest chains first (single-thread seconds per quick seed in a cold `make reproduce`,
# 2026-11-30: generative 227-243, input_size 158-174, attacks 174-183, unlearned 125-159,
# defenses 96-100, verification 29-31, original 26, ablations 22). The build's wall time was
# within 1 % of its CPU time over two cores, so the order is not where time goes.
PRIORITY: tuple[str, ...] = ("generative", "input_size", "original", "unlearned", "attacks",
                             "verification", "defenses", "ablations")


def build_all(profile: str, seeds: list[int], overrides: Mapping[str, Any] | None = None,
              workers: int = 2, device: str = "cpu",
              on_done: Callable[[dict[str, Any]], None] | None = None,
              names: list[str] | None = None) -> list[dict[str, Any]]:
    """Fill the cache with every job of every seed on ``workers`` local processes, one torch
    thread each (small models use processes better than threads), each job started as soon
    as the jobs it needs are done (no waves: the long MAE job never holds up the others).

    Returns one summary per job (:func:`run_job`; ``state`` "done", "FAILED" with ``error``, or
    "skipped" when a need failed); ``on_done(summary)`` is called as each finishes. ``names``
    restricts the jobs (their needs are added).
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    todo = {(s, n) for s in seeds for wave in waves(names) for n in wave}
    done: set[tuple[int, str]] = set()
    failed: set[tuple[int, str]] = set()
    rows: list[dict[str, Any]] = []
    order = sorted(todo, key=lambda k: (PRIORITY.index(k[1]), k[0]))
    running: dict[cf.Future, tuple[int, str]] = {}

    def report(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_done is not None:
            on_done(row)

    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        while todo or running:
            for key in [k for k in order if k in todo]:
                s, name = key
                needs = {(s, n) for n in JOBS[name][1]}
                if needs & failed:
                    todo.discard(key)
                    failed.add(key)
                    report({"job": name, "seed": s, "state": "skipped (a need failed)"})
                elif needs <= done and len(running) < workers:
                    todo.discard(key)
                    running[pool.submit(run_job_reporting, profile, s, name, overrides, device,
                                        1)] = key
            if not running:
                continue
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                s, name = running.pop(fut)
                try:
                    report({**fut.result(), "state": "done"})
                    done.add((s, name))
                except Exception as e:  # the worker printed the traceback
                    failed.add((s, name))
                    report({"job": name, "seed": s, "state": "FAILED",
                            "error": f"{type(e).__name__}: {e}"})
    return rows
