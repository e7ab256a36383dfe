"""The self-training loop shared by MI-Tune, DreamSync and RealignDiff:

    prompts -> generate M candidates (+ free hook scores) -> score -> select -> fine-tune adapter -> next round

Every stage leaves its result on disk under the run folder and is skipped when that result is
already there, so rerunning the same command after an interruption resumes where it stopped. What each
stage writes where: diffalign.run_folder.RunFolder.

Several processes (torchrun / accelerate launch, diffalign.processes) share every stage: candidates, scores and the
val benchmark are split by row, training is data-parallel, and the main process alone holds the pool's table and
writes the shared files; every decision about what is done is the main process's, handed to the others
(docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..builtin import BUILTIN_MODEL_DIR
from ..errors import UserInputError
from ..evaluation.bench import BenchRow, run_bench, summarise, write_bench
from ..io import atomic_path, atomic_write_text, write_json, writer_lock
from ..models import Conditioning, default_guidance, family_of, is_shapes_world_model
from ..pool import Pool, PoolFiles, PoolRow, row_id
from ..processes import current as current_processes
from ..run_folder import RoundFolder, RunFolder
from ..sampling import encode_prompts, sample
from ..scorers import scorer_from
from ..scorers.mi import MIConfig, PointwiseMIHook
from ..selection import preference_pairs, select
from ..training import (attach_adapter, frozen_conditioning, load_adapter_state, save_adapter, train_adapter,
                        trained_conditioning)
from ..training.adapters import adapter_state
from ..world.prompts import Prompt
from .recipe import Recipe, check_recipe, mi_during_sampling, scorer_options

log = logging.getLogger(__name__)
ROUND_SEED_STRIDE = 1_000_000  # candidate seeds of round r: r * stride + j


def embed_prompts(pipe, prompts: list[Prompt], pool: Pool, batch_size: int) -> None:
    """The text-encoder output of every prompt the pool lacks, encoded and stored one batch at a time (so memory
    holds one batch, and training reads back only the prompts it uses)."""
    stored = pool.embedded_prompts()
    todo = [i for i in range(len(prompts)) if i not in stored]
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        with torch.no_grad():
            embeds = encode_prompts(pipe, [prompts[i].text for i in batch])
        pool.save_prompt_embeds(batch, embeds.to("cpu"))


def open_pool(root: Path) -> Pool | PoolFiles:
    """The pool as this process uses it: the main process's Pool (table and files), another's PoolFiles."""
    return Pool(root) if current_processes().main else PoolFiles(root)


def generate_pool(pipe, recipe: Recipe, prompts: list[Prompt], pool: Pool | PoolFiles,
                  round_index: int) -> list[PoolRow]:
    """M candidates per prompt with MI filled in during sampling; resumes after the last complete batch. Each
    process samples its part of every global batch and writes its images and latents; the main process commits
    the batch's rows in one transaction."""
    procs = current_processes()
    procs.on_main(lambda: embed_prompts(pipe, prompts, pool, recipe.sampler.batch_size))
    done = procs.on_main(lambda: pool.done_ids())
    todo = [(i, round_index * ROUND_SEED_STRIDE + j) for i in range(len(prompts)) for j in range(recipe.candidates)
            if row_id(i, round_index * ROUND_SEED_STRIDE + j) not in done]
    hooks = (PointwiseMIHook(pipe, recipe.mi),) if mi_during_sampling(recipe) else ()
    config = replace(recipe.sampler, keep_latents=True)
    step = config.batch_size
    for batch in tqdm(procs.batches(todo, step), desc=f"round {round_index}: candidates",
                      total=-(-len(todo) // (step * procs.count)), disable=not procs.main):
        rows = []
        if batch:
            samples = sample(pipe, [prompts[i].text for i, _ in batch], [s for _, s in batch], config, hooks,
                             progress=False)
            first = row_id(*batch[0])
            rows = [PoolRow(id=row_id(i, s), prompt=prompts[i].text, category=prompts[i].category, seed=s,
                            round=round_index, image=f"images/{row_id(i, s)}.png",
                            latents=f"latents/{first}.safetensors", scores=dict(smp.scores))
                    for (i, s), smp in zip(batch, samples)]
            pool.write_batch(rows, [smp.image for smp in samples], torch.stack([smp.latent for smp in samples]))
        written = procs.gather(rows)
        procs.on_main(lambda: pool.insert(written))
    return procs.on_main(lambda: pool.rows())


def score_pool(pipe, recipe: Recipe, pool: Pool | PoolFiles, cache_dir: Path) -> list[PoolRow]:
    """Fill each recipe scorer's columns that no sampling hook filled, saving after every global batch (resumable);
    each process scores its part of the batch."""
    procs = current_processes()
    rows = procs.on_main(lambda: pool.rows())
    for name in recipe.scorers:
        todo = [r for r in rows if name not in r.scores]
        if not todo:
            continue
        scorer = scorer_from(name, scorer_options(recipe, name), pipe, cache_dir)
        step = recipe.score_batch
        for batch in tqdm(procs.batches(todo, step), desc=f"score {name}", total=-(-len(todo) // (step * procs.count)),
                          disable=not procs.main):
            scores = {}
            if batch:
                columns = scorer.score(np.stack([pool.image(r) for r in batch]), [r.prompt for r in batch])
                scores = {r.id: {k: float(v[i]) for k, v in columns.items()} for i, r in enumerate(batch)}
            merged = {k: v for part in procs.gather([scores]) for k, v in part.items()}
            procs.on_main(lambda: pool.set_scores(merged))
    return procs.on_main(lambda: pool.rows())


def selection_summary(rows: list[PoolRow], chosen: list[PoolRow], minimums: dict[str, float]) -> dict:
    """Counts for the log and report; acceptance = share of candidates passing every minimum (all when none)."""
    passing = sum(all(r.scores[n] >= m for n, m in minimums.items()) for r in rows)
    return {"candidates": len(rows), "passing": passing, "acceptance_rate": passing / max(len(rows), 1),
            "selected": len(chosen), "prompts": len({r.prompt for r in rows}),
            "prompts_with_selection": len({c.prompt for c in chosen})}


def evaluate_round(pipe, recipe: Recipe, val: list[Prompt], run: RunFolder, r: int) -> dict:
    """The val benchmark (same prompts and seeds every round), kept in run/eval/round_<r>/ with its images: the
    reference evaluator on a shapes-world model, the recipe's own scorers on any other."""
    procs = current_processes()
    results = run.eval_results(r)
    if not procs.on_main(results.exists):
        if is_shapes_world_model(pipe.name_or_path):
            run_bench(pipe, val, recipe.eval.per_prompt, seed=0, config=recipe.sampler, out=run.eval_dir(r),
                      save_images=True)
        else:
            scorer_bench(pipe, recipe, val, run, r)
    return procs.on_main(lambda: json.loads(results.read_text()))


def scorer_bench(pipe, recipe: Recipe, val: list[Prompt], run: RunFolder, r: int) -> None:
    """The val benchmark of a model the reference evaluator cannot read (it knows only the shapes world): the val
    images (seeds 0..per_prompt-1 every round) scored by the recipe's own scorers; an image's score is the first
    selector column. A self-assessment, named as such in results.json, not a benchmark's figure."""
    folder, column = run.eval_dir(r), recipe.selector.scores[0]
    val_recipe = replace(recipe, candidates=recipe.eval.per_prompt)
    with open_pool(run.eval_pool(r)) as pool:
        generate_pool(pipe, val_recipe, val, pool, 0)  # round 0's seeds: 0..candidates-1
        scored = score_pool(pipe, val_recipe, pool, run.cache_dir)

        def write() -> None:
            prefix = run.eval_pool(r).relative_to(folder)  # row images are relative to the benchmark's folder
            rows = [BenchRow(p.prompt, p.category, p.seed, p.scores[column], None, {}, 0, image=f"{prefix}/{p.image}")
                    for p in scored]
            write_bench(summarise(rows, 0.0), [pool.image(p) for p in scored], folder, recipe.eval.per_prompt,
                        save_images=False,
                        evaluator=f"recipe scorer column {column!r} (no reference evaluator outside the shapes world)")

        current_processes().on_main(write)


def prompt_index(prompts: list[Prompt]) -> dict[str, int]:
    return {p.text: i for i, p in enumerate(prompts)}


def prompts_digest(prompts: list[Prompt]) -> str:
    return hashlib.sha256(json.dumps([[p.text, p.category] for p in prompts]).encode()).hexdigest()[:16]


def run_inputs(pipe, recipe: Recipe, prompts: list[Prompt], val: list[Prompt]) -> dict:
    """What finished pools, latents and evals were made from. Selector and trainer settings are left out:
    changing them on a rerun (e.g. adding a fallback) only affects rounds that have not finished."""
    sampler = {k: v for k, v in asdict(recipe.sampler).items() if k not in ("batch_size", "keep_latents")}
    return {"model": model_identity(pipe), "prompts": prompts_digest(prompts),
            "val_prompts": prompts_digest(val), "sampler": sampler, "mi": asdict(recipe.mi),
            "eval": asdict(recipe.eval)}


def model_identity(pipe) -> str:
    """The hub id or path; for the built-in model also its UNet's digest, since retraining it keeps the path."""
    model = str(getattr(pipe, "name_or_path", None))
    if model != str(BUILTIN_MODEL_DIR):
        return model
    weights = BUILTIN_MODEL_DIR / "unet" / "diffusion_pytorch_model.safetensors"
    return f"builtin:{hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}"


INPUT_DEFAULTS = {"mi": asdict(MIConfig())}  # run inputs whose fields can grow; new fields resume at their default


def check_resumable(run: RunFolder, inputs: dict) -> None:
    """Refuse to resume a run folder made from other inputs: its rows are keyed by prompt index and seed."""
    path = run.inputs
    if path.exists():
        before = json.loads(path.read_text())
        for k, defaults in INPUT_DEFAULTS.items():  # a run written before a field existed was made at its default
            before[k] = {**defaults, **before.get(k, {})}
        changed = [k for k in inputs if before.get(k) != json.loads(json.dumps(inputs[k]))]
        if changed:
            raise UserInputError(f"{run.root} holds a run made with other {', '.join(changed)}; rerun with the same "
                                 f"settings to resume it, or give a new --out")
    else:
        write_json(path, inputs)


def select_round(rows: list[PoolRow], recipe: Recipe, folder: RoundFolder, round_index: int
                 ) -> tuple[list[PoolRow], list[tuple[PoolRow, PoolRow]]]:
    """The selector's choice (and, for "dpo", each chosen candidate's rejected partners), written to
    its selected.jsonl and selection.json; selecting nothing is the user's error to fix."""
    chosen = select(rows, recipe.selector)
    dpo = recipe.train.objective == "dpo"
    pairs = preference_pairs(rows, chosen, recipe.selector) if dpo else []
    rejected = defaultdict(list)  # chosen id -> its rejected partners (dpo)
    for c, worse in pairs:
        rejected[c.id].append(worse.id)
    if dpo:
        chosen = [c for c in chosen if rejected[c.id]]
    minimums = recipe.selector.minimums if recipe.selector.kind == "threshold" else {}
    summary = selection_summary(rows, chosen, minimums)
    write_json(folder.selection, summary)
    if not chosen:
        raise UserInputError(f"round {round_index}: no candidate passed the selector {recipe.selector.kind}; the "
                             f"scored pool in {folder.pool} is kept — loosen the selector (or set "
                             f"selector.fallback_top_k) and rerun")
    atomic_write_text(folder.selected, "".join(json.dumps(
        {"id": c.id, "prompt": c.prompt, "scores": c.scores}
        | ({"rejected": rejected[c.id]} if dpo else {})) + "\n" for c in chosen))
    passing = f"{summary['passing']} of {len(rows)} candidates pass the thresholds, " if minimums else ""
    log.info("round %d: %s%d of %d candidates selected (%d of %d prompts)%s", round_index, passing, len(chosen),
             len(rows), summary["prompts_with_selection"], summary["prompts"],
             f", {len(pairs)} preference pairs" if dpo else "")
    return chosen, pairs


def train_round(pipe, params, recipe: Recipe, pool: Pool | PoolFiles, chosen: list[PoolRow],
                pairs: list[tuple[PoolRow, PoolRow]], index: dict[str, int], folder: RoundFolder) -> None:
    """Fine-tune the adapter on the selected candidates' cached latents (pairs: winners against their
    rejected partners) and save it in the diffusers LoRA format; its adapter_state.pt, written last, marks the
    round done."""
    dpo = recipe.train.objective == "dpo"
    winners = [c for c, _ in pairs] if dpo else chosen
    if recipe.adapter.text_encoder:
        conditioning = trained_conditioning(pipe, [c.prompt for c in winners])
    else:
        found = current_processes().on_main(lambda: pool.embed_files(index[c.prompt] for c in winners))
        embeds = pool.read_prompt_embeds(found)  # only the winners' prompts are read
        conditioning = frozen_conditioning(Conditioning.cat([embeds[index[c.prompt]] for c in winners]))
    train_adapter(pipe, params, pool.latents(winners), conditioning, recipe.train, folder.train_state,
                  rejected=pool.latents([worse for _, worse in pairs]) if dpo else None)

    def save() -> None:
        save_adapter(pipe, recipe.adapter, folder.adapter)
        with atomic_path(folder.adapter_state) as tmp:
            torch.save(adapter_state(pipe), tmp)

    current_processes().on_main(save)


def align(pipe, recipe: Recipe, prompts: list[Prompt], val: list[Prompt], out: Path) -> list[dict]:
    """Run all rounds of a recipe in the run folder `out`; returns the val benchmark after each round (index 0:
    the base model), empty when there are no val prompts the reference evaluator can read."""
    family = family_of(pipe)
    check_recipe(recipe, family.guidance_distilled)
    if recipe.sampler.guidance is None:  # the model's default, recorded as the number it is
        recipe = replace(recipe, sampler=replace(recipe.sampler, guidance=default_guidance(pipe.name_or_path)))
    if recipe.sampler.scheduler is not None and not family.named_schedulers:
        log.warning("the recipe's sampler.scheduler %r is a DDPM-family sampler; a %s samples with its own %s",
                    recipe.sampler.scheduler, family.pipeline_class, type(pipe.scheduler).__name__)
        recipe = replace(recipe, sampler=replace(recipe.sampler, scheduler=None))
    run = RunFolder(out)
    run.root.mkdir(parents=True, exist_ok=True)
    with ExitStack() as lock:  # the main process holds it for all (its refusal reaches every process)
        current_processes().on_main(lambda: lock.enter_context(
            writer_lock(run.lock, run.root, "wait for that run to finish, or give another --out")))
        return _align_rounds(pipe, recipe, prompts, val, run)


def _align_rounds(pipe, recipe: Recipe, prompts: list[Prompt], val: list[Prompt], run: RunFolder) -> list[dict]:
    """align's work, under the run folder's writer lock."""
    procs = current_processes()
    inputs = run_inputs(pipe, recipe, prompts, val)

    def start() -> None:
        check_resumable(run, inputs)
        write_json(run.recipe, asdict(recipe), default=str)

    procs.on_main(start)
    evals = [evaluate_round(pipe, recipe, val, run, 0)] if val else []
    if evals:
        log.info("base model: mean %.3f on %d %s prompts", evals[0]["mean"], len(val), recipe.eval.split)
    params = attach_adapter(pipe, recipe.adapter, recipe.train.seed)
    index = prompt_index(prompts)
    for r in range(1, recipe.rounds + 1):
        folder = run.round(r)
        if procs.on_main(folder.adapter_state.exists):  # round finished earlier: restore its adapter, move on
            load_adapter_state(pipe, torch.load(folder.adapter_state, weights_only=False))
        else:
            with open_pool(folder.pool) as pool:
                generate_pool(pipe, recipe, prompts, pool, r)
                rows = score_pool(pipe, recipe, pool, run.cache_dir)
                chosen, pairs = procs.on_main(lambda: select_round(rows, recipe, folder, r))
                train_round(pipe, params, recipe, pool, chosen, pairs, index, folder)
        if val:
            evals.append(evaluate_round(pipe, recipe, val, run, r))
            log.info("round %d: mean %.3f (base %.3f)", r, evals[-1]["mean"], evals[0]["mean"])
        log.info("round %d: adapter in %s", r, folder.adapter)
    return evals
