from pathlib import Path

import pytest

from diffalign.io import atomic_path, atomic_write_text, write_json
from diffalign.run_folder import CompareFolder, RoundFolder, RunFolder


def test_run_paths_keep_the_names_runs_on_disk_have(tmp_path):
    run = RunFolder(tmp_path)
    names = {run.lock: ".lock", run.recipe: "recipe.json", run.inputs: "inputs.json", run.eval_dir(0): "eval/round_0",
             run.eval_results(2): "eval/round_2/results.json", run.round(1).root: "round_1",
             run.round(1).pool: "round_1/pool", run.round(1).selected: "round_1/selected.jsonl",
             run.round(1).selection: "round_1/selection.json", run.round(3).train_state: "round_3/train_state.pt",
             run.round(1).adapter: "round_1/adapter", run.round(1).adapter_state: "round_1/adapter_state.pt",
             run.cache_dir: ".", run.report_page: "report.html", run.curves_figure: "report/curves.png",
             run.before_after_figure("color"): "report/before_after_color.png",
             run.scores_hist_figure(1): "report/round_1_scores_hist.png",
             run.selected_vs_rejected_figure(2): "report/round_2_selected_vs_rejected.png"}
    for path, name in names.items():
        assert path == tmp_path / name
    assert CompareFolder(tmp_path).page == tmp_path / "compare.html"
    assert RoundFolder(str(tmp_path)).train_state == tmp_path / "train_state.pt"


def test_rounds_are_in_numeric_order_and_folders_only(tmp_path):
    for name in ("round_10", "round_2", "round_1", "round_x"):
        (tmp_path / name).mkdir()
    (tmp_path / "round_3").write_text("not a folder")
    assert RunFolder(tmp_path).rounds() == [1, 2, 10]


def test_atomic_writes_leave_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "state.json"
    write_json(path, {"a": 1})
    assert path.read_text() == '{\n "a": 1\n}'
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == '{\n "a": 1\n}' and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    (tmp_path / ".state.json.tmp").write_text("stale")  # what a killed run leaves
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_atomic_path_makes_a_folder_appear_whole(tmp_path):
    folder = tmp_path / "checkpoint-5"
    (tmp_path / ".checkpoint-5.tmp").mkdir()  # a stale half folder
    (tmp_path / ".checkpoint-5.tmp" / "junk").write_text("x")
    with atomic_path(folder) as tmp:
        assert not tmp.exists()
        tmp.mkdir()
        (tmp / "weights").write_text("w")
        assert not folder.exists()
    assert [p.name for p in folder.iterdir()] == ["weights"] and [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert isinstance(folder, Path)
