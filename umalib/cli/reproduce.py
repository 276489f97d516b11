"""Run the notebook series headlessly with papermill (behind ``make reproduce``).

    python -m umalib reproduce --profile quick [--only 00,02] [--seeds 0,1,2] [--device cpu]
                               [--force] [--timeout 3600] [--set NAME=VALUE ...] [--workers N]

With ``--workers`` > 1 (default on a CPU: one per core), every stage of every seed is built
into the cache by that many single-threaded processes (:func:`umalib.experiments.jobs.
build_all`; small models use two processes better than two threads), and each notebook runs,
reading its stages from the cache, as soon as the jobs it reads have finished (so notebooks
fill the cores the last jobs leave idle). Otherwise the notebooks in ``notebooks/`` run in
numeric order and build what they need. Executed copies go to ``runs/<profile>/``; figures
and tables go to ``figures/<profile>/``. A summary table at the end gives, per notebook: wall
time, cache hits / builds, and the output files written.
Exits non-zero if any notebook fails. ``--set`` passes config overrides to every notebook (e.g.
``--set 'plugins=["my_lab.uniform"]' --set methods+=Uniform`` runs a method of your own); the
results then differ from the profile's, so it needs ``$UMALIB_FIGURES`` pointing elsewhere than
the committed ``figures/``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Callable, Sequence

from .. import allocator, cache, config
from ..cache import REPO_ROOT
from ..config import PROFILES, parse_overrides

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def notebooks(only: Sequence[str] | None = None) -> list[Path]:
    """Notebooks in numeric order, optionally only those whose number prefix is in ``only``."""
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {o.strip().zfill(2) for o in only if o.strip()}
        unknown = wanted - {p.name[:2] for p in found}
        if unknown:
            raise ValueError(f"--only names unknown notebooks {sorted(unknown)}; "
                             f"known: {[p.name[:2] for p in found]}")
        found = [p for p in found if p.name[:2] in wanted]
    return found


def run_notebook(path: Path, profile: str, out_dir: Path, *, force: bool, timeout: int,
                 extra: dict | None = None) -> dict:
    """Execute one notebook with papermill; return a summary row."""
    import papermill as pm

    from ..reporting.files import figures_dir

    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = figures_dir(profile)
    before = {p: p.stat().st_mtime for p in fig_dir.glob("*")}
    # The kernel inherits these: figures are embedded in the executed notebook (inline backend),
    # and progress bars, which would be stale widget snapshots in a headless run, are off.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ.setdefault("UMALIB_PROGRESS", "0")
    for name, value in allocator.ENV.items():  # the kernel's malloc keeps freed pages too
        os.environ.setdefault(name, value)
    params = {"PROFILE": profile, "FORCE": force, "INTERACTIVE": False, **(extra or {})}
    t0 = time.perf_counter()
    error = ""
    with cache.recording() as events:
        try:
            pm.execute_notebook(str(path), str(out_dir / path.name), parameters=params,
                                kernel_name="python3", execution_timeout=timeout,
                                progress_bar=False, cwd=str(path.parent))
        except Exception as e:  # papermill raises PapermillExecutionError with the traceback
            error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    wall = time.perf_counter() - t0
    written = sorted(p.name for p in fig_dir.glob("*")
                     if p.suffix in (".png", ".csv") and before.get(p) != p.stat().st_mtime)
    return {"notebook": path.name, "seconds": wall,
            "cache_hits": events.count("hit"), "built": events.count("miss"),
            "outputs": written, "error": error}


def prebuild(profile: str, seeds: list[int], overrides: dict | None, workers: int,
             device: str, on_done: Callable[[dict], None] | None = None) -> dict:
    """Build every stage of ``seeds`` into the cache on ``workers`` processes, printing each
    job as it ends (and passing its summary to ``on_done``); returns a summary row (as
    :func:`run_notebook`'s) for the whole build."""
    from ..experiments.jobs import build_all

    print(f"[reproduce] building the stages of seeds {seeds} on {workers} processes ...",
          flush=True)
    t0 = time.perf_counter()

    def show(r: dict) -> None:
        what = (f"{r['seconds']:.1f}s, built {r['built']}, cached {r['cached']}"
                if r["state"] == "done" else f"{r['state']} {r.get('error', '')}")
        print(f"[reproduce]   seed {r['seed']} {r['job']}: {what}", flush=True)
        if on_done is not None:
            on_done(r)

    rows = build_all(profile, seeds, overrides, workers, device, on_done=show)
    bad = [r for r in rows if r["state"] != "done"]
    wall = time.perf_counter() - t0
    print(f"[reproduce] stages built in {wall:.1f}s"
          + (f"; {len(bad)} jobs did not finish (their notebooks will say why)" if bad else ""),
          flush=True)
    return {"notebook": f"(stages, {workers} processes)", "seconds": wall,
            "cache_hits": sum(r.get("cached", 0) for r in rows),
            "built": sum(r.get("built", 0) for r in rows), "outputs": [],
            "error": "" if not bad else f"{len(bad)} jobs failed"}


def overlapped(todo: list[Path], run: Callable[[Path], dict], profile: str,
               seeds: list[int] | None, overrides: dict | None, workers: int, device: str
               ) -> list[dict]:
    """:func:`prebuild` on a background thread while this thread runs each notebook of
    ``todo`` (with ``run``) as soon as every seed's jobs it reads (:data:`NOTEBOOK_JOBS`;
    all jobs for a notebook not listed there) have finished, the lowest number first; the
    notebooks fill the cores the last jobs leave idle. Returns the build's row, then the
    notebooks' rows in numeric order."""
    import threading

    from ..experiments.jobs import JOBS, NOTEBOOK_JOBS

    seeds = seeds or list(config.load(profile, **(overrides or {})).seeds)
    finished: set[tuple[int, str]] = set()
    state: dict = {}
    cond = threading.Condition()

    def on_done(r: dict) -> None:  # done, failed or skipped: nothing more will be built
        with cond:
            finished.add((r["seed"], r["job"]))
            cond.notify_all()

    def build() -> None:
        try:
            state["row"] = prebuild(profile, seeds, overrides, workers, device, on_done)
        except Exception as e:  # the notebooks then build what they need and say why
            state["row"] = {"notebook": f"(stages, {workers} processes)", "seconds": 0.0,
                            "cache_hits": 0, "built": 0, "outputs": [],
                            "error": f"{type(e).__name__}: {e}"}
        finally:
            with cond:
                state["over"] = True
                cond.notify_all()

    def ready(nb: Path) -> bool:
        needs = NOTEBOOK_JOBS.get(nb.name[:2], tuple(JOBS))
        return all((s, j) in finished for s in seeds for j in needs)

    thread = threading.Thread(target=build, name="umalib-prebuild", daemon=True)
    thread.start()
    rows, pending = [], list(todo)
    while pending:
        with cond:
            cond.wait_for(lambda: state.get("over") or any(ready(nb) for nb in pending))
            nb = next((n for n in pending if ready(n)), pending[0])
        pending.remove(nb)
        rows.append(run(nb))
    thread.join()
    return [state["row"], *sorted(rows, key=lambda r: r["notebook"])]


def print_summary(rows: list[dict], profile: str, wall: float | None = None) -> None:
    """The summary table; ``wall``: the whole run's wall time when its parts overlapped (else
    the parts' sum is the total)."""
    print(f"\n== umalib reproduce: profile {profile} ==")
    print(f"{'notebook':34s} {'wall':>8s} {'hits':>5s} {'built':>6s}  outputs (png/csv)")
    for r in rows:
        status = f"FAILED: {r['error']}" if r["error"] else ", ".join(r["outputs"]) or "-"
        print(f"{r['notebook']:34s} {r['seconds']:7.1f}s {r['cache_hits']:5d} {r['built']:6d}  {status}")
    if wall is None:
        print(f"{'total':34s} {sum(r['seconds'] for r in rows):7.1f}s")
    else:
        print(f"{'total (wall)':34s} {wall:7.1f}s  (notebooks ran while the last stages "
              "built: the rows add up to more)")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib reproduce", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 00,02")
    ap.add_argument("--force", action="store_true", help="rebuild cached artifacts")
    ap.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    ap.add_argument("--out", default=None, help="executed notebooks' folder (default runs/<profile>)")
    ap.add_argument("--seeds", default="", help="comma-separated seeds (default: the profile's)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (passed to every notebook)")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes that build the stages before the notebooks run (default: "
                         "the CPU count on cpu, 1 on cuda; 1 = the notebooks build them)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="config override for every notebook, value parsed as JSON (repeatable)")
    args = ap.parse_args(argv)
    if args.timeout <= 0:
        ap.error("--timeout must be > 0")
    if args.workers is not None and args.workers < 1:
        ap.error("--workers must be >= 1")
    extra: dict = {"DEVICE": args.device}
    try:
        if args.set:
            overrides = parse_overrides(args.set)
            config.load(args.profile, **overrides)  # validated before any compute
            if not os.environ.get("UMALIB_FIGURES"):
                raise ValueError("--set changes the results: set UMALIB_FIGURES to a folder of "
                                 "your own so that the committed figures/ stay as they are")
            extra["OVERRIDES"] = overrides
        if args.seeds:
            seeds = config.parse_seeds(args.seeds)
            config.load(args.profile, seeds=tuple(seeds))  # validated before any compute
            extra["SEEDS"] = seeds
        if args.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"--device {args.device}: CUDA is not available on this machine")
    except ValueError as e:
        ap.error(str(e))
    try:
        todo = notebooks(args.only.split(",") if args.only else None)
    except ValueError as e:
        ap.error(str(e))
    out = Path(args.out) if args.out else REPO_ROOT / "runs" / args.profile
    workers = args.workers or (1 if args.device.startswith("cuda") else (os.cpu_count() or 1))

    def run(nb: Path) -> dict:
        print(f"[reproduce] {nb.name} ({args.profile}) ...", flush=True)
        row = run_notebook(nb, args.profile, out, force=args.force, timeout=args.timeout,
                           extra=extra)
        print(f"[reproduce] {nb.name}: {row['seconds']:.1f}s"
              + (f" FAILED {row['error']}" if row["error"] else ""), flush=True)
        return row

    t0 = time.perf_counter()
    if workers > 1 and not args.only and not args.force:
        rows = overlapped(todo, run, args.profile, extra.get("SEEDS"), extra.get("OVERRIDES"),
                          workers, args.device)
        print_summary(rows, args.profile, wall=time.perf_counter() - t0)
    else:
        rows = [run(nb) for nb in todo]
        print_summary(rows, args.profile)
    # a failed stage job shows up again as its notebook's error; only notebooks decide
    return 1 if any(r["error"] for r in rows if r["notebook"].endswith(".ipynb")) else 0
