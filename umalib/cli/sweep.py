"""Fill the shared cache for a profile and seeds: one job, or the whole stage graph on an engine.

    python -m umalib run JOB --profile smoke --seed 0 [--set attack.steps=50]
    python -m umalib sweep --profile paper --seeds 0,1,2 [--jobs original,unlearned]
        --executor local|slurm [--partition P --gpus-per-node 1 --timeout-min M --cpus-per-task C]

``run`` builds one job of :data:`umalib.experiments.jobs.JOBS` (original, unlearned,
generative, attacks, ablations, defenses) in this process. ``sweep`` submits every (seed, job)
with submitit (its local executor on one machine, Slurm on a cluster), wave by wave in the
jobs' dependency order, waits for each wave, and ends with a summary: per job its seed, state,
seconds, artifacts built and found, and the log path of every failure. A job whose needs failed
is not submitted. Finished stages are never rebuilt (the cache has them), so a sweep can simply
be run again after a failure. Afterwards ``make reproduce`` reads everything from the cache.
Exit status: 0 when every job succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..cache import REPO_ROOT, cache_root
from ..config import PROFILES, parse_overrides, parse_seeds
from ..experiments.jobs import (JOBS, job_costs, load_profile, preflight, run_job,
                               run_job_reporting, waves)




def _executor(args: argparse.Namespace, folder: Path) -> Any:
    import submitit

    if args.executor == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=args.timeout_min)
        return ex
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    params: dict[str, Any] = {"timeout_min": args.timeout_min, "cpus_per_task": args.cpus_per_task,
                              "gpus_per_node": args.gpus_per_node, "name": "umalib"}
    if args.partition:
        params["slurm_partition"] = args.partition
    ex.update_parameters(**params)
    return ex


def sweep(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.set)
    seeds = parse_seeds(args.seeds) if args.seeds else list(load_profile(args.profile, overrides).seeds)
    for s in seeds:  # validate everything before any job is submitted
        load_profile(args.profile, overrides, s)
    plan = waves(args.jobs.split(",") if args.jobs else None)
    preflight(args.profile, [n for w in plan for n in w], overrides, seeds[0])
    folder = Path(args.log_dir) if args.log_dir else REPO_ROOT / "runs" / "sweeps" / time.strftime(
        "%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"[sweep] profile {args.profile}, seeds {seeds}, executor {args.executor}, "
          f"{sum(map(len, plan)) * len(seeds)} jobs in {len(plan)} waves; cache {cache_root()}; "
          f"logs {folder}", flush=True)
    executor = _executor(args, folder)
    rows: list[dict[str, Any]] = []
    failed: set[tuple[int, str]] = set()
    for wave in plan:
        jobs = []
        # local jobs of a wave run at once: share the cores instead of oversubscribing them
        threads = (max(1, (os.cpu_count() or 1) // (len(wave) * len(seeds)))
                   if args.executor == "local" else 0)
        for s in seeds:
            for name in wave:
                if any((s, need) in failed for need in JOBS[name][1]):
                    rows.append({"job": name, "seed": s, "state": "skipped (a need failed)"})
                    failed.add((s, name))
                    continue
                jobs.append((s, name, executor.submit(run_job_reporting, args.profile, s, name,
                                                      overrides, args.device, threads)))
        for s, name, job in jobs:
            try:
                res = job.result()
                rows.append({**res, "state": "done"})
            except Exception as e:  # submitit re-raises the job's failure here
                failed.add((s, name))
                rows.append({"job": name, "seed": s, "state": "FAILED", "error": _reason(e),
                             "log": str(job.paths.stderr)})
            print(f"[sweep] seed {s} {name}: {rows[-1]['state']}", flush=True)
    print_summary(rows)
    return 1 if failed else 0


def _reason(e: BaseException) -> str:
    """The job's own error line (``ValueError: ...``) out of the executor's failure text."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b.*:", ln)]
    return errors[-1] if errors else (lines[-1] if lines else type(e).__name__)


def print_summary(rows: list[dict[str, Any]]) -> None:
    print("\n== umalib sweep ==")
    print(f"{'seed':>4s} {'job':12s} {'state':26s} {'seconds':>8s} {'built':>6s} {'cached':>7s}")
    for r in rows:
        print(f"{r['seed']:4d} {r['job']:12s} {r['state']:26s} {r.get('seconds', float('nan')):8.1f} "
              f"{r.get('built', 0):6d} {r.get('cached', 0):7d}"
              + (f"  {r.get('error', '')} (log: {r['log']})" if r["state"] == "FAILED" else ""))
    print(f"built {sum(r.get('built', 0) for r in rows)}, cached {sum(r.get('cached', 0) for r in rows)}, "
          f"failed {sum(r['state'] != 'done' for r in rows)}")


def _common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a profile field (dotted name, JSON value), repeatable")
    ap.add_argument("--device", default="cpu")


def print_plan(profile: str, overrides: dict[str, Any], seeds: list[int], throughput: float
               ) -> None:
    """The jobs a sweep submits, wave by wave, and their estimated GPU-hours."""
    p = load_profile(profile, overrides)
    cost = job_costs(p)
    print(f"profile {profile}: {p.data.dataset}, {p.model.arch}; seeds {seeds}; "
          f"{len(JOBS) * len(seeds)} jobs; estimate at {throughput:,.0f} image passes/s per GPU "
          "(an assumption, not a measurement: time one epoch of the original to replace it)")
    print(f"{'wave':>4s} {'job':12s} {'image passes':>14s} {'GPU-h per seed':>15s}")
    total = 0.0
    for i, wave in enumerate(waves(), 1):
        for name in wave:
            h = cost[name] / throughput / 3600
            total += h
            print(f"{i:4d} {name:12s} {cost[name]:14,.0f} {h:15.2f}")
    print(f"total: {total:.1f} GPU-h per seed, {total * len(seeds):.1f} GPU-h for {len(seeds)} seeds")
    if p.generative.pretrained:
        print("generative: passes of the pretrained ViT-MAE at its own image size (224x224 for "
              "vit-mae-base), each far costlier than a classifier pass on CIFAR; time them "
              "separately")


def main_run(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("job", choices=list(JOBS))
    ap.add_argument("--seed", type=int, default=0)
    _common(ap)
    args = ap.parse_args(argv)
    try:
        load_profile(args.profile, parse_overrides(args.set), args.seed)
    except ValueError as e:
        ap.error(str(e))
    try:  # missing data, weights or extras: one line before any work; a job's own failure
        # (a bug, a file gone mid-run) keeps its traceback
        preflight(args.profile, [args.job], parse_overrides(args.set), args.seed)
    except ValueError as e:
        ap.error(str(e))
    except (FileNotFoundError, ImportError) as e:
        print(f"umalib run: error: {e}", file=sys.stderr)
        return 2
    res = run_job(args.profile, args.seed, args.job, parse_overrides(args.set), args.device)
    print(f"[run] {args.profile} seed {args.seed} {args.job}: {res['seconds']:.1f}s, "
          f"{res['built']} built, {res['cached']} from the cache")
    return 0


def main_sweep(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="", help="comma-separated (default: the profile's)")
    ap.add_argument("--jobs", default="", help=f"some of {list(JOBS)} (their needs are added)")
    ap.add_argument("--executor", default="local", choices=("local", "slurm"))
    ap.add_argument("--partition", default="")
    ap.add_argument("--gpus-per-node", type=int, default=0)
    ap.add_argument("--cpus-per-task", type=int, default=4)
    ap.add_argument("--timeout-min", type=int, default=24 * 60)
    ap.add_argument("--log-dir", default="", help="submitit folder (default runs/sweeps/<time>)")
    ap.add_argument("--plan", action="store_true",
                    help="print the jobs and a GPU-hour estimate, submit nothing")
    ap.add_argument("--throughput", type=float, default=5000.0,
                    help="image passes/s per GPU for --plan (default 5000: an assumption)")
    _common(ap)
    args = ap.parse_args(argv)
    if args.plan:
        try:
            overrides = parse_overrides(args.set)
            seeds = (parse_seeds(args.seeds) if args.seeds
                     else list(load_profile(args.profile, overrides).seeds))
        except ValueError as e:
            ap.error(str(e))
        print_plan(args.profile, overrides, seeds, args.throughput)
        return 0
    if args.timeout_min < 1 or args.gpus_per_node < 0 or args.cpus_per_task < 1:
        ap.error("--timeout-min and --cpus-per-task must be >= 1, --gpus-per-node >= 0")
    try:
        return sweep(args)
    except ValueError as e:
        ap.error(str(e))
    except (FileNotFoundError, ImportError) as e:  # found before any job was submitted
        print(f"umalib sweep: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main_sweep())
