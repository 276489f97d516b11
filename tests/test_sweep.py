"""The sweep fills the shared cache on submitit's local executor; failures are reported."""

import os

import pytest

from umalib.cli import main
from umalib.cli.reproduce import notebooks, run_notebook
from umalib.experiments.jobs import JOBS, waves

from conftest import requires_fmnist


def test_waves_respect_the_stage_graph():
    plan = waves()
    order = [n for w in plan for n in w]
    assert sorted(order) == sorted(JOBS)
    for i, wave in enumerate(plan):
        for name in wave:
            assert all(need in [n for w in plan[:i] for n in w] for need in JOBS[name][1])
    assert waves(["defenses"]) == [["original"], ["unlearned"], ["attacks"], ["defenses"]]
    with pytest.raises(ValueError, match="unknown job"):
        waves(["nope"])


def test_bad_arguments_are_refused_before_any_job(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--profile", "smoke", "--seeds", "0,x"])
    with pytest.raises(SystemExit):
        main(["sweep", "--profile", "smoke", "--set", "attack.steps=-1"])
    assert "attack.steps" in capsys.readouterr().err


@requires_fmnist
@pytest.mark.notebooks
def test_a_failing_job_is_reported_with_its_log_and_fails_the_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path / "cache"))
    # passes config validation, fails in the stage: the dataset has no class 42
    code = main(["sweep", "--profile", "smoke", "--seeds", "0", "--jobs", "generative",
                 "--set", "generative.forget_classes=[42]", "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "not in the dataset's classes" in out and "log:" in out
    log = out.split("log: ")[1].split(")")[0]
    assert "not in the dataset's classes" in open(log).read()  # the traceback is in the log
    assert " 0 original     done" in out  # its need ran


@requires_fmnist
@pytest.mark.notebooks
def test_a_local_sweep_of_two_seeds_fills_the_cache_for_the_notebooks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UMALIB_FIGURES", str(tmp_path / "figures"))
    assert main(["sweep", "--profile", "smoke", "--seeds", "0,1", "--log-dir",
                 str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    assert "failed 0" in out and out.count(": done") == 2 * len(JOBS)
    # a second sweep builds nothing: finished stages are never rebuilt
    assert main(["sweep", "--profile", "smoke", "--seeds", "0,1", "--jobs", "original",
                 "--log-dir", str(tmp_path / "logs2")]) == 0
    assert "built 0," in capsys.readouterr().out
    for nb in notebooks():
        row = run_notebook(nb, "smoke", tmp_path / "runs", force=False, timeout=900)
        assert not row["error"] and row["built"] == 0 and row["cache_hits"] > 0, row
    os.environ.pop("UMALIB_CACHE_LOG", None)
