"""Before/after tables across rounds, from the per-round val benchmark dicts of the loop."""

from __future__ import annotations

from .stats import gain_interval


def before_after_table(evals: list[dict], prompts: str = "val") -> str:
    """Scores per round, the last round's change and its 95 % interval (paired bootstrap over the benchmark's
    prompts, named by `prompts`: val, test or a file)."""
    categories = list(evals[0]["categories"])
    head = f"{'category':<10}" + "".join(f"{'base' if r == 0 else f'R={r}':>8}" for r in range(len(evals)))
    head += f"{'delta':>8}{'95 %':>16}"
    lines = [head]
    mean_bounds = [gain_interval(evals[0], after) for after in evals[1:]]  # per round, of the mean gain
    formed = all(e["well_formed"] for e in evals)  # a scorer-based benchmark has no well-formed check
    if "evaluator" in evals[0] and not evals[0]["evaluator"].startswith("reference"):
        lines.insert(0, f"evaluator: {evals[0]['evaluator']}")
    for c in [*categories, "mean", *(["formed"] if formed else [])]:
        if c == "mean":
            values = [e["mean"] for e in evals]
        elif c == "formed":
            values = [sum(e["well_formed"].values()) / len(e["well_formed"]) for e in evals]
        else:
            values = [e["categories"][c] for e in evals]
        cells = "".join(f"{100 * v:>8.1f}" for v in values)
        line = f"{c:<10}{cells}{100 * (values[-1] - values[0]):>+8.1f}"
        if c != "formed" and len(evals) > 1:
            lo, hi = mean_bounds[-1] if c == "mean" else gain_interval(evals[0], evals[-1], c)
            line += f"{f'[{100 * lo:+.1f}, {100 * hi:+.1f}]':>16}"
        lines.append(line)
    for r, (after, (lo, hi)) in enumerate(zip(evals[1:], mean_bounds), 1):
        lines.append(f"R={r} mean gain {100 * (after['mean'] - evals[0]['mean']):+.1f} points, 95 % interval "
                     f"[{100 * lo:+.1f}, {100 * hi:+.1f}] over the {prompts} prompts (paired bootstrap)")
    return "\n".join(lines)
