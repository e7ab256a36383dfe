"""The one place that names the paths of an align run (and of a comparison of runs).

Every stage of the self-training loop (methods/loop.py) leaves its result on disk under the run folder and
is skipped when that result is already there, so rerunning the same command after an interruption resumes
where it stopped. These names are what existing runs hold on disk: changing one breaks resuming them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_ROUND = re.compile(r"round_(\d+)")


def _child(name: str, doc: str | None = None) -> property:
    """A path below the folder's root, as a read-only attribute."""
    return property(lambda self: self.root / name, doc=doc)


@dataclass(frozen=True)
class _Folder:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def name(self) -> str:
        return self.root.name


@dataclass(frozen=True)
class RunFolder(_Folder):
    """The paths of an align run:

        run/.lock                        the writer lock: held by the align job writing the run (its main process;
                                         io.writer_lock)
        run/recipe.json                  the resolved recipe
        run/inputs.json                  what the pools and evals depend on; a rerun with other inputs is refused
        run/eval/round_<r>/              val benchmark of the model after round r (0 = base): results.json, images
                                         (a model outside the shapes world: pool/, its images scored by the recipe)
        run/round_<r>/pool/              candidates with one score column per recipe scorer: pool.sqlite, images/,
                                         latents/, prompt_embeds/ (see pool.py)
        run/round_<r>/selected.jsonl     ids of the rows chosen for fine-tuning (with their rejected partners for
                                         "dpo")
        run/round_<r>/selection.json     how many candidates and prompts the selector accepted
        run/round_<r>/train_state.pt     resumable trainer state
        run/round_<r>/adapter/           the adapter after round r, diffusers LoRA format
        run/round_<r>/adapter_state.pt   the adapter's weights, written last: round r is done
        run/questions-<slug>.json        scorers' caches (the vqa scorer's question sets): cache_dir = run
        run/report.html, run/report/     the report page and its figures (reporting/report.py)
    """

    lock = _child(".lock", "the writer lock file (io.writer_lock): one align process per run folder")
    recipe = _child("recipe.json")
    inputs = _child("inputs.json")
    report_page = _child("report.html")
    report_dir = _child("report", "the report's figures")

    @property
    def cache_dir(self) -> Path:
        """Where scorers keep their caches for this run (make_scorer's cache_dir)."""
        return self.root

    def eval_dir(self, r: int) -> Path:
        """The val benchmark of the model after round r (0 = base): run_bench's out folder."""
        return self.root / "eval" / f"round_{r}"

    def eval_results(self, r: int) -> Path:
        return self.eval_dir(r) / "results.json"

    def eval_pool(self, r: int) -> Path:
        """The scored val images of a model the reference evaluator cannot read (methods.loop.scorer_bench)."""
        return self.eval_dir(r) / "pool"

    def round(self, r: int) -> RoundFolder:
        return RoundFolder(self.root / f"round_{r}")

    def rounds(self) -> list[int]:
        """The rounds with a round_<r> folder, in order."""
        found = (_ROUND.fullmatch(p.name) for p in self.root.glob("round_*") if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    @property
    def curves_figure(self) -> Path:
        return self.report_dir / "curves.png"

    def before_after_figure(self, category: str) -> Path:
        return self.report_dir / f"before_after_{category}.png"

    def scores_hist_figure(self, r: int) -> Path:
        return self.report_dir / f"round_{r}_scores_hist.png"

    def selected_vs_rejected_figure(self, r: int) -> Path:
        return self.report_dir / f"round_{r}_selected_vs_rejected.png"


@dataclass(frozen=True)
class RoundFolder(_Folder):
    """run/round_<r>/ of a RunFolder (see its table); also what one fine-tuning writes outside a run."""

    pool = _child("pool")
    selected = _child("selected.jsonl")
    selection = _child("selection.json")
    train_state = _child("train_state.pt")
    adapter = _child("adapter")
    adapter_state = _child("adapter_state.pt", "written after the adapter: its presence marks the round done")


@dataclass(frozen=True)
class CompareFolder(_Folder):
    """The output of `diffalign compare`: compare.html, with compare.png and compare.json beside it."""

    page = _child("compare.html")
    figure = _child("compare.png")
    table = _child("compare.json")
