"""The sweep fills the shared cache on submitit's local executor; failures are reported."""

import pytest

from umalib.cli import main
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
def test_missing_files_and_bad_classes_are_refused_before_any_job(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path / "cache"))
    # the dataset has no class 42: found by the preflight, nothing submitted
    with pytest.raises(SystemExit):
        main(["sweep", "--profile", "smoke", "--seeds", "0", "--jobs", "generative",
              "--set", "generative.forget_classes=[42]", "--log-dir", str(tmp_path / "logs")])
    assert "not in the dataset's classes" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())
    # a model directory that is not there: one line, exit 2, for sweep and run alike
    bad = f'generative.pretrained="{tmp_path / "none"}"'
    for argv in (["sweep", "--profile", "smoke", "--seeds", "0", "--jobs", "generative",
                  "--set", bad, "--log-dir", str(tmp_path / "logs")],
                 ["run", "generative", "--profile", "smoke", "--set", bad]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "does not exist" in err, err


@requires_fmnist
@pytest.mark.notebooks
def test_a_failing_job_is_reported_with_its_log_and_fails_the_sweep(tmp_path, monkeypatch, capsys):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path / "cache"))
    # a pretrained MAE whose config is fine (the preflight reads it) and whose weight file is
    # corrupt: the failure can only show when the job loads it, on the node
    d = tmp_path / "mae"
    transformers.ViTMAEConfig(image_size=28, patch_size=7, num_channels=1, hidden_size=16,
                              num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                              decoder_hidden_size=16, decoder_num_hidden_layers=1,
                              decoder_num_attention_heads=2, decoder_intermediate_size=32
                              ).save_pretrained(d)
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    code = main(["sweep", "--profile", "smoke", "--seeds", "0", "--jobs", "generative",
                 "--set", f'generative.pretrained="{d}"',
                 "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "log:" in out
    log = out.split("log: ")[1].split(")")[0]
    assert "Traceback" in open(log).read()  # the traceback is in the log
    assert "original" not in out  # the MAE stages need no classifier


@requires_fmnist
@pytest.mark.notebooks
def test_a_local_sweep_of_two_seeds_fills_the_cache_for_the_notebooks(smoke_run, monkeypatch,
                                                                       capsys):
    # smoke_run built the smoke profile with `sweep --seeds 0,1`, then ran every notebook
    base, rows = smoke_run
    head, out = (base / "sweep.out").read_text().split("\n", 1)
    assert head == "exit 0" and "failed 0" in out and out.count(": done") == 2 * len(JOBS)
    for nb, row in rows.items():
        assert not row["error"] and row["built"] == 0 and row["cache_hits"] > 0, (nb, row)
    # a second sweep builds nothing: finished stages are never rebuilt
    monkeypatch.setenv("UMALIB_CACHE", str(base / "cache"))
    assert main(["sweep", "--profile", "smoke", "--seeds", "0,1", "--jobs", "original",
                 "--log-dir", str(base / "logs2")]) == 0
    assert "built 0," in capsys.readouterr().out


@requires_fmnist
def test_build_all_runs_jobs_on_processes_and_skips_what_a_failure_blocks():
    """reproduce's prebuild: jobs on two processes as soon as their needs are done; a failing
    job is reported and the jobs that need it are skipped, while the rest goes on."""
    from umalib.experiments.jobs import build_all

    seen = []
    # the originals build; the unlearned job fails (no such instance-wise forget set), so the
    # attacks, which need it, never start
    rows = build_all("smoke", [0, 1], {"data.train_subset": 300, "data.test_subset": 100,
                                       "train.epochs": 1, "scenario.forget_count": 100000},
                     workers=2, on_done=lambda r: seen.append(r["job"]), names=["attacks"])
    states = sorted((r["seed"], r["job"], r["state"].split(" ")[0]) for r in rows)
    assert states == [(0, "attacks", "skipped"), (0, "original", "done"), (0, "unlearned", "FAILED"),
                      (1, "attacks", "skipped"), (1, "original", "done"), (1, "unlearned", "FAILED")]
    assert sorted(seen) == sorted(r["job"] for r in rows)
    assert all(r["built"] == 1 for r in rows if r["job"] == "original")
    assert all("forget_count" in r["error"] for r in rows if r["state"] == "FAILED")


def test_reproduce_runs_each_notebook_once_its_jobs_are_finished(monkeypatch):
    """reproduce overlaps the notebooks with the build: a notebook starts only when every
    seed's jobs it reads have finished (a failed one counts: nothing more will come), the
    lowest number first, and one that names no jobs waits for the whole build."""
    import threading
    from pathlib import Path

    from umalib.cli import reproduce
    from umalib.experiments.jobs import JOBS, NOTEBOOK_JOBS

    order = ["generative", "input_size", "original", "unlearned", "attacks", "verification",
             "defenses", "ablations"]
    assert sorted(order) == sorted(JOBS)
    finished: list[tuple[int, str]] = []
    lock = threading.Lock()
    ran_03 = threading.Event()

    def fake_prebuild(profile, seeds, overrides, workers, device, on_done=None):
        for job in order:
            for s in seeds:
                with lock:
                    finished.append((s, job))
                on_done({"job": job, "seed": s, "state": "FAILED" if job == "attacks" else "done"})
            if job == "input_size":  # 03 has what it reads: the build goes on once it ran
                ran_03.wait(timeout=10)
        return {"notebook": "(stages)", "seconds": 0.0, "cache_hits": 0, "built": 0,
                "outputs": [], "error": ""}

    seen: dict[str, set] = {}

    def run(nb: Path) -> dict:
        with lock:
            seen[nb.name[:2]] = set(finished)
        if nb.name.startswith("03"):
            ran_03.set()
        return {"notebook": nb.name, "seconds": 0.0, "cache_hits": 0, "built": 0,
                "outputs": [], "error": ""}

    monkeypatch.setattr(reproduce, "prebuild", fake_prebuild)
    todo = [Path(f"{n}_x.ipynb") for n in ("00", "01", "02", "03", "04", "05", "06")]
    rows = reproduce.overlapped(todo, run, "smoke", [0, 1], None, 2, "cpu")
    assert [r["notebook"] for r in rows] == ["(stages)"] + [p.name for p in todo]
    for nb, before in seen.items():
        needs = NOTEBOOK_JOBS.get(nb, tuple(JOBS))
        assert {(s, j) for s in (0, 1) for j in needs} <= before, nb
    # 03 ran while the build waited for it, before 00 had what it needs (a scheduler that
    # held the notebooks back to the end would leave the build waiting 10 s and fail here);
    # 06 is not in the map, so it waited for every job
    assert seen["03"] == {(s, j) for s in (0, 1) for j in ("generative", "input_size")}
    assert len(seen["00"]) > len(seen["03"]) and len(seen["06"]) == 2 * len(JOBS)
