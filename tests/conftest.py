"""Shared fixtures: isolated cache/figures folders, tiny real-data setups, single-threaded torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes its cache and figures to temporary folders, never into the repo."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("UMALIB_CACHE", str(base / "cache"))
    monkeypatch.setenv("UMALIB_FIGURES", str(base / "figures"))
    monkeypatch.setenv("MPLBACKEND", "agg")


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    # Two cores shared with other work: one thread is faster for tiny models.
    torch.set_num_threads(1)


def have_fmnist() -> bool:
    from umalib.data.readers import load_raw

    try:
        load_raw("fashion-mnist")
        return True
    except FileNotFoundError:
        return False


requires_fmnist = pytest.mark.skipif(not (FMNIST.exists() or (Path(__file__).parent.parent / "data" / "fashion-mnist").exists()),
                                     reason="Fashion-MNIST not installed (make data)")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke profile built once, then every notebook executed from it (shared by the
    notebook, site and sweep tests).

    The artifacts come from a local sweep of the stage graph over both seeds (submitit's local
    executor, as on a cluster), so one build serves two checks: the sweep fills the cache, and
    the notebooks then build nothing. Its output is kept in ``base / "sweep.out"``."""
    import contextlib
    import io

    from umalib.cli import main
    from umalib.cli.reproduce import notebooks, run_notebook

    base = tmp_path_factory.mktemp("nb")
    old = {k: os.environ.get(k) for k in ("UMALIB_CACHE", "UMALIB_FIGURES", "MPLBACKEND")}
    os.environ.update(UMALIB_CACHE=str(base / "cache"), UMALIB_FIGURES=str(base / "figures"),
                      MPLBACKEND="agg")
    rows = {}
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["sweep", "--profile", "smoke", "--seeds", "0,1", "--log-dir",
                         str(base / "logs")])
        (base / "sweep.out").write_text(f"exit {code}\n{out.getvalue()}")
        for nb in notebooks():
            rows[nb.name[:2]] = run_notebook(nb, "smoke", base / "runs", force=False, timeout=900)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return base, rows
