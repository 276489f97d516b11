"""Command line: ``python -m umalib {verify,reproduce,bench,site,claims,run,sweep} ...``.

- ``verify``: attack an unlearned checkpoint with UMA and report (:mod:`umalib.cli.verify`,
  :mod:`umalib.verify`);
- ``reproduce``: run the notebook series with papermill (:mod:`umalib.cli.reproduce`);
- ``bench``: print throughput figures (:mod:`umalib.cli.bench`);
- ``site``: build the static site of the executed notebooks (:mod:`umalib.cli.site`);
- ``claims``: decide the paper's claims on a profile's tables (:mod:`umalib.cli.claims`);
- ``run`` / ``sweep``: fill the shared cache, one job or the stage graph on submitit
  (:mod:`umalib.cli.sweep`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import verify


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m umalib",
                                 description="Unlearning verification with the Unlearning Mapping Attack")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, text in (("reproduce", "run the notebook series headlessly (see reproduce --help)"),
                       ("bench", "print attack and training throughput (see bench --help)"),
                       ("site", "build the static site of the executed notebooks (see site --help)"),
                       ("claims", "decide the paper's claims on a profile's tables (see claims --help)"),
                       ("run", "build one job of the stage graph into the cache (see run --help)"),
                       ("sweep", "fill the cache for seeds on a local or Slurm engine (see sweep --help)")):
        sp = sub.add_parser(name, help=text, add_help=False)
        sp.add_argument("rest", nargs=argparse.REMAINDER)
    v = sub.add_parser("verify", help="attack an unlearned checkpoint with UMA and report")
    verify.add_arguments(v)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("reproduce", "bench", "site", "claims", "run", "sweep"):  # own parsers
        from . import bench, claims, reproduce, site, sweep
        command = {"reproduce": reproduce.main, "bench": bench.main, "site": site.main,
                   "claims": claims.main, "run": sweep.main_run,
                   "sweep": sweep.main_sweep}[argv[0]]
        return int(command(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    return verify.run(args)
