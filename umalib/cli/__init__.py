"""Command line: ``python -m umalib {verify,reproduce,bench} ...``.

- ``verify``: attack an unlearned checkpoint with UMA and report (:mod:`umalib.verify`);
- ``reproduce``: run the notebook series with papermill (:mod:`umalib.cli.reproduce`);
- ``bench``: print throughput figures (:mod:`umalib.cli.bench`);
- ``site``: build the static site of the executed notebooks (:mod:`umalib.cli.site`);
- ``run`` / ``sweep``: fill the shared cache, one job or the stage graph on submitit
  (:mod:`umalib.cli.sweep`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..config import ARCHS, DATASETS


def _classes(text: str) -> list[int]:
    try:
        return [int(c) for c in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"classes must be integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m umalib",
                                 description="Unlearning verification with the Unlearning Mapping Attack")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, text in (("reproduce", "run the notebook series headlessly (see reproduce --help)"),
                       ("bench", "print attack and training throughput (see bench --help)"),
                       ("site", "build the static site of the executed notebooks (see site --help)"),
                       ("run", "build one job of the stage graph into the cache (see run --help)"),
                       ("sweep", "fill the cache for seeds on a local or Slurm engine (see sweep --help)")):
        sp = sub.add_parser(name, help=text, add_help=False)
        sp.add_argument("rest", nargs=argparse.REMAINDER)
    v = sub.add_parser("verify", help="attack an unlearned checkpoint with UMA and report")
    v.add_argument("--original", required=True, help="state_dict (.pt) of the model before unlearning")
    v.add_argument("--unlearned", required=True, help="state_dict (.pt) of the model after unlearning")
    v.add_argument("--dataset", default="fashion-mnist", help=f"one of {DATASETS}")
    v.add_argument("--arch", default="cnn", help=f"one of {ARCHS}")
    v.add_argument("--width", type=int, default=None, help="base width of the architecture")
    g = v.add_mutually_exclusive_group()
    g.add_argument("--forget-classes", type=_classes, default=None, help="e.g. 0 or 5,16,25")
    g.add_argument("--forget-indices", default=None,
                   help="file of training-set indices (text/CSV or .npy)")
    v.add_argument("--eps", default="8/255", help="L-inf budget, e.g. 8/255 or 0.03")
    v.add_argument("--steps", type=int, default=100)
    v.add_argument("--step-size", default="1/255")
    v.add_argument("--max-samples", type=int, default=1000,
                   help="attack a seeded subset of this many forget samples (0 = all)")
    v.add_argument("--threshold", type=float, default=0.1,
                   help="verdict: residual knowledge if the mapped-back share exceeds this")
    v.add_argument("--mia-shadow", type=int, default=3000,
                   help="MIA shadow set size per side (0 = the test set size, as the reference)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--device", default="cpu")
    v.add_argument("--json", default=None, help="also write the report here as JSON")
    v.add_argument("--no-progress", action="store_true")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("reproduce", "bench", "site", "run", "sweep"):  # own parsers
        from . import bench, reproduce, site, sweep
        command = {"reproduce": reproduce.main, "bench": bench.main, "site": site.main,
                   "run": sweep.main_run, "sweep": sweep.main_sweep}[argv[0]]
        return int(command(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    from .. import verify as V

    try:
        req = V.validate(args.original, args.unlearned, args.dataset, args.arch, args.width,
                         args.forget_classes, args.forget_indices, args.eps, args.steps,
                         args.step_size, args.max_samples or None, args.threshold, args.seed,
                         args.mia_shadow or None)
        report = V.run(req, device=args.device, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(V.format_report(report))
    if args.json:
        V.write_json(report, args.json)
        print(f"report written to {args.json}")
    return 0
