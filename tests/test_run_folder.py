"""The run folder and the output folder: the lock a live run holds, finished / failed / latest,
interrupted runs found and cleaned up, the file list the documentation is checked against."""

from __future__ import annotations

import json
import os

import pytest

from creditlab.run.folder import FILES, MANIFEST_FILE, Outputs, RunFolder, RunLock
from creditlab.run.manifest import read_manifest, write_manifest
from creditlab.schedule import list_runs


def _started(outputs: Outputs, report: str = "weekly") -> os.PathLike:
    work = outputs.new_run(report)
    write_manifest(
        work / MANIFEST_FILE, {"run_id": work.name, "status": "running", "step": "model"}
    )
    return work


def test_a_held_lock_is_seen_and_released(tmp_path):
    work = _started(Outputs(tmp_path))
    assert not RunLock.held(work)  # nobody holds it yet
    lock = RunLock(work)
    assert RunLock.held(work)  # another open file cannot take it
    with pytest.raises(BlockingIOError):
        RunLock(work)  # a second run cannot take over a live run's folder
    lock.release()
    assert not RunLock.held(work) and not (work / ".lock").exists()


def test_finished_and_failed_runs_move_into_place(tmp_path):
    outputs = Outputs(tmp_path)
    first, second = _started(outputs), _started(outputs)
    assert first.parent == outputs.work and first != second
    done = outputs.complete(first)
    assert done == tmp_path / first.name and outputs.latest.resolve() == done.resolve()
    assert os.readlink(outputs.latest) == first.name  # relative: the folder can move
    failed = outputs.fail(second)
    assert failed.parent == outputs.failed and not second.exists()
    assert outputs.latest.resolve() == done.resolve()  # a failure never becomes latest


def test_only_runs_no_process_holds_are_interrupted(tmp_path):
    outputs = Outputs(tmp_path)
    dead, live = _started(outputs), _started(outputs)
    lock = RunLock(live)
    (dead / "weekly_portfolio.html").write_text("half a report")
    assert outputs.interrupted() == [dead]
    statuses = dict(zip(list_runs(tmp_path)["run_id"], list_runs(tmp_path)["status"], strict=True))
    assert statuses == {dead.name: "interrupted", live.name: "running"}
    moved = outputs.clean_interrupted()
    assert moved == [outputs.failed / dead.name] and live.is_dir()
    manifest = read_manifest(moved[0])
    assert manifest["status"] == "interrupted" and manifest["failed_step"] == "model"
    assert "killed" in manifest["error"] and manifest["finished_at"]
    assert not list(moved[0].glob("*.html"))  # an interrupted run shows no report
    lock.release()


def test_typed_readers_say_none_for_what_a_run_left_out(tmp_path):
    folder = RunFolder(tmp_path)
    assert folder.read_json("pd_validation.json") is None
    assert folder.read_csv("limits.csv") is None and folder.read_parquet("scores.parquet") is None
    (tmp_path / "alerts.csv").write_text("customer_id,alert\n007,over limit\n")
    assert folder.read_csv("alerts.csv")["customer_id"].tolist() == ["007"]  # ids stay text
    folder.write_json("x.json", {"n": 1})
    assert json.loads((tmp_path / "x.json").read_text()) == {"n": 1} and folder.has("x.json")


def test_every_file_is_named_once():
    names = [f.name for f in FILES]
    assert len(names) == len(set(names)) > 30
    assert all(f.written_by.startswith("run.") and f.read_by and f.holds for f in FILES)
