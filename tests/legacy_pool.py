"""The pool of diffalign before pool.sqlite (commit 657bf1a, src/diffalign/pool.py), verbatim but for its name:
it writes pools in the rows.jsonl format that today's Pool migrates on open. A test fixture, not library code."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from diffalign.io import atomic_path, atomic_write_text, save_tensors
from diffalign.pool import PoolRow

ROWS_FILE = "rows.jsonl"  # the table, in the pool folder


class LegacyPool:
    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        (self.root / "latents").mkdir(exist_ok=True)
        self.table = self.root / ROWS_FILE
        self._drop_torn_tail()

    def _drop_torn_tail(self) -> None:
        """A run killed mid-append can leave a partial last line: keep only complete rows."""
        if self.table.exists():
            rows = self.rows()
            if len(rows) != len(self.table.read_text().splitlines()):
                self._rewrite(rows)

    def rows(self) -> list[PoolRow]:
        """Complete rows, in the order they were written."""
        if not self.table.exists():
            return []
        rows = []
        for line in self.table.read_text().splitlines():
            try:
                rows.append(PoolRow(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                break
        return rows

    def done_ids(self) -> set[str]:
        return {r.id for r in self.rows()}

    def append(self, rows: list[PoolRow], images: list[np.ndarray], latents: torch.Tensor) -> None:
        for row, image in zip(rows, images):
            with atomic_path(self.root / row.image) as tmp:
                Image.fromarray(image).save(tmp, format="PNG")
        save_tensors({r.id: latents[i] for i, r in enumerate(rows)}, self.root / rows[0].latents)
        with open(self.table, "a") as f:
            for r in rows:
                f.write(json.dumps(asdict(r)) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _rewrite(self, rows: list[PoolRow]) -> None:
        atomic_write_text(self.table, "".join(json.dumps(asdict(r)) + "\n" for r in rows))

    def set_scores(self, scores: dict[str, dict[str, float]]) -> None:
        """Add score columns (row id -> {name: value}) to existing rows, atomically."""
        rows = self.rows()
        for r in rows:
            r.scores.update(scores.get(r.id, {}))
        self._rewrite(rows)

    def latents(self, rows: list[PoolRow]) -> torch.Tensor:
        files: dict[str, dict[str, torch.Tensor]] = {}
        out = []
        for r in rows:
            if r.latents not in files:
                files[r.latents] = load_file(self.root / r.latents)
            out.append(files[r.latents][r.id])
        return torch.stack(out)

    def image(self, row: PoolRow) -> np.ndarray:
        return np.asarray(Image.open(self.root / row.image).convert("RGB"))

    def save_prompt_embeds(self, embeds: torch.Tensor) -> None:
        save_tensors({str(i): e for i, e in enumerate(embeds)}, self.root / "prompt_embeds.safetensors")

    def prompt_embeds(self) -> dict[int, torch.Tensor] | None:
        path = self.root / "prompt_embeds.safetensors"
        return {int(k): v for k, v in load_file(path).items()} if path.exists() else None
