"""`diffalign align`: run a self-training recipe (MI-Tune by default) and print before/after per category."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..evaluation.table import before_after_table
from ..methods.loop import align
from ..methods.prompts import align_prompts
from ..methods.recipe import EVAL_SPLITS, Recipe, check_recipe, load_recipe, override
from ..models import declared_family, is_shapes_world_model, load_pipeline
from ..processes import is_main_process, start as start_processes
from ..run_folder import RunFolder
from ..scorers.mi import ESTIMATORS
from ..selection import SELECTOR_KINDS
from .common import add_model_args, add_sampler_args, add_trainer_args, pipeline_dtype, trainer_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="self-train a model to follow its prompts (MI-Tune by default)",
                       description="Generate candidates per prompt, score, select, fine-tune a LoRA/DoRA adapter, "
                       "for R rounds; prints the val benchmark before and after and writes OUT/report.html. "
                       "Rerunning the same command resumes an interrupted run.")
    p.add_argument("--recipe", default="mitune", help="a shipped recipe name or a .toml path")
    p.add_argument("--prompts", type=Path, help="train prompt file (default: the shipped train sets)")
    p.add_argument("--val-prompts", type=Path, help="val prompt file for before/after (default: shipped val sets)")
    p.add_argument("--rounds", type=int, help="R: rounds of generate-select-train")
    p.add_argument("--candidates", type=int, help="M: candidates per prompt and round")
    p.add_argument("--top-k", type=int, help="k: candidates kept per prompt")
    p.add_argument("--selector", choices=SELECTOR_KINDS,
                   help="selector kind (rank_sum: sum of per-score ranks; sum: sum of raw scores)")
    p.add_argument("--fallback-top-k", dest="fallback_top_k", action="store_const", const=True,
                   help="threshold selector: when no candidate passes, keep the top-k by the first score")
    p.add_argument("--prompts-per-category", type=int, help="use the first N train prompts of each category")
    p.add_argument("--rank", type=int, help="adapter rank (alpha follows unless --alpha)")
    p.add_argument("--alpha", type=int)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--dora", dest="adapter_kind", action="store_const", const="dora")
    kind.add_argument("--lora", dest="adapter_kind", action="store_const", const="lora")
    p.add_argument("--text-encoder", dest="text_encoder", action="store_const", const=True,
                   help="also adapt the text encoder (MI-Tune's default adapts the UNet only)")
    p.add_argument("--objective", choices=["sft", "dpo"], help="fine-tuning objective: sft (noise-prediction loss on "
                   "the selected samples, as the papers) or dpo (Diffusion-DPO on selected vs least preferred pairs)")
    p.add_argument("--pairs", type=int, help="dpo: rejected partners per selected candidate (its prompt's least "
                   "preferred candidates)")
    p.add_argument("--mi-estimator", choices=ESTIMATORS, help="point-wise MI: orthogonal (Eq. 2, free during "
                   "sampling), standard (denoising-error gap) or contrastive (margin over contrast prompts)")
    p.add_argument("--mi-min-timestep", type=int, help="point-wise MI: keep only timesteps t > N")
    p.add_argument("--mi-timesteps", type=int, help="point-wise MI scored on the images (standard, contrastive): "
                   "Monte-Carlo timesteps per image ([mi] n_timesteps)")
    p.add_argument("--train-steps", type=int, help="fine-tuning steps per round")
    p.add_argument("--lr", type=float)
    p.add_argument("--dpo-beta", type=float, help="dpo: Diffusion-DPO's beta, larger keeps the adapter nearer the base "
                   "(default: the recipe's, 1000)")
    p.add_argument("--train-seed", type=int, help="seed of the adapter's random init and of the batch order "
                   "(default 0; candidates keep their own per-prompt seeds)")
    add_trainer_args(p)
    p.add_argument("--score-batch", type=int, help="images handed to a scorer at a time (default: the recipe's, 64)")
    p.add_argument("--mi-batch", type=int, help="point-wise MI scored on the images: images per UNet batch "
                   "([mi] batch_size)")
    p.add_argument("--eval-per-category", type=int, help="val prompts per category in the before/after table")
    p.add_argument("--eval-split", choices=EVAL_SPLITS, help="shipped split of the before/after table without "
                   "--val-prompts: val (tune on it) or test (the shapes world's, never tuned on: report it)")
    p.add_argument("--out", type=Path, default=Path("runs/align"))
    add_model_args(p)
    add_sampler_args(p, recipe=True)  # for candidates and evaluation
    p.set_defaults(func=run)


def align_recipe(args: argparse.Namespace) -> Recipe:
    """The recipe the command runs: --recipe for this model, with the options given, checked."""
    recipe = load_recipe(args.recipe, is_shapes_world_model(args.model))
    recipe = override(recipe, rounds=args.rounds, candidates=args.candidates,
                      prompts_per_category=args.prompts_per_category,
                      **{"selector.k": args.top_k, "selector.kind": args.selector,
                         "selector.fallback_top_k": args.fallback_top_k, "selector.pairs": args.pairs,
                         "adapter.rank": args.rank,
                         "adapter.alpha": args.alpha or args.rank, "adapter.kind": args.adapter_kind,
                         "adapter.text_encoder": args.text_encoder,
                         "train.steps": args.train_steps, "train.objective": args.objective, "train.lr": args.lr,
                         "train.dpo_beta": args.dpo_beta,
                         "train.seed": args.train_seed,
                         "sampler.steps": args.steps, "sampler.guidance": args.guidance,
                         "sampler.scheduler": args.scheduler,
                         "sampler.batch_size": args.batch_size, "eval.per_category": args.eval_per_category,
                         "eval.split": args.eval_split,
                         "mi.estimator": args.mi_estimator, "mi.min_timestep": args.mi_min_timestep,
                         "mi.n_timesteps": args.mi_timesteps, "mi.batch_size": args.mi_batch,
                         "score_batch": args.score_batch, **trainer_overrides(args)})
    family = declared_family(args.model)
    check_recipe(recipe, family is not None and family.guidance_distilled)  # before the model loads: a bad setting would otherwise fail after a round's sampling
    return recipe


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO if is_main_process() else logging.WARNING, format="%(asctime)s %(message)s")
    recipe = align_recipe(args)
    prompts, val = align_prompts(recipe, args.prompts, args.val_prompts, is_shapes_world_model(args.model))
    procs = start_processes(args.device)
    pipe = load_pipeline(args.model, args.adapter, procs.device, dtype=pipeline_dtype(recipe.train))
    evals = align(pipe, recipe, prompts, val, args.out)
    if not procs.main:  # the main process reports
        return
    if evals:
        print(before_after_table(evals, args.val_prompts.name if args.val_prompts else recipe.eval.split))
    from ..reporting.report import write_report

    report = write_report(args.out)
    print(f"adapter: {RunFolder(args.out).round(recipe.rounds).adapter}; report: {report}")
