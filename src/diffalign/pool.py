"""A round's candidate pool on disk: images, cached latents, prompt embeddings, and a SQLite table of its rows.

Layout of a pool folder:
    pool.sqlite                      the table (SQLite, WAL mode): one row per sample, its scores, the embeddings' index
    images/<id>.png
    latents/<first-id>.safetensors   z_0 of a batch (scaled, as the UNet sees it), keyed by row id
    prompt_embeds/<first>.safetensors  the conditioning of a batch of prompts (models.Conditioning), keyed by prompt
                                     index: "<i>" its prompt_embeds, "<i>.<field>" its other fields

Tables of pool.sqlite:
    rows(seq, id UNIQUE, prompt, category, seed, round, image, latents)   seq: the order rows were written
    scores(row -> rows.seq, name, value)        one entry per (row, score column): set_scores writes only its batch
    prompt_embeds(prompt_index, file)           which safetensors file holds a prompt's embedding

A batch is written images first, then latents, then its rows (and their hook scores) in one transaction: a run
killed at any point leaves only complete rows, and rerunning skips every (prompt, seed) already present. Scoring a
batch of 64 rows is one transaction over those rows, whatever the pool's size (benchmarks/pool_bookkeeping.py).
Embeddings are stored per batch of prompts and read per prompt (safetensors reads only the keys asked for), so
training loads only its selected prompts' rows and no step holds every prompt's embedding in memory.

Durability: WAL with synchronous=NORMAL. A crashed or killed process loses no committed batch; a power loss may
lose the last few, never leave one half-written; a lost batch is sampled again on the rerun.

Pools of earlier versions (rows.jsonl, prompt_embeds.safetensors with every prompt) are migrated on open: the
database is built under a temporary name and moved into place, rows.jsonl is renamed rows.jsonl.migrated and the
old embeddings file is kept and indexed where it is.

Who may write: one process, the run's main one, opens the table (Pool); in a multi-process run the others write
and read only their rows' files (PoolFiles) and hand their rows to the main process, which commits each global
batch in one transaction (docs/scaling.md: SQLite's WAL needs every process on one host, a run may span nodes).
That two runs do not generate the same rows is the run folder's writer lock (io.writer_lock, taken by
methods.loop.align).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from .io import atomic_path, save_tensors
from .models import Conditioning
from .models.families import FIELDS


@dataclass
class PoolRow:
    id: str  # "<prompt index>-<seed>"
    prompt: str
    category: str | None
    seed: int
    round: int
    image: str  # path relative to the pool folder
    latents: str  # file holding this row's latent, relative to the pool folder
    scores: dict[str, float] = field(default_factory=dict)


DB_FILE = "pool.sqlite"  # the table, in the pool folder
ROWS_FILE = "rows.jsonl"  # the table of pools before pool.sqlite: migrated on open
OLD_EMBEDS_FILE = "prompt_embeds.safetensors"  # every prompt's embedding, in pools before prompt_embeds/
EMBEDS_DIR = "prompt_embeds"
SCHEMA_VERSION = 1
_COLUMNS = ("id", "prompt", "category", "seed", "round", "image", "latents")
_SCHEMA = """
CREATE TABLE rows (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, prompt TEXT NOT NULL, category TEXT,
                   seed INTEGER NOT NULL, round INTEGER NOT NULL, image TEXT NOT NULL, latents TEXT NOT NULL);
CREATE TABLE scores (row INTEGER NOT NULL REFERENCES rows(seq), name TEXT NOT NULL, value REAL,
                     PRIMARY KEY (row, name)) WITHOUT ROWID;
CREATE TABLE prompt_embeds (prompt_index INTEGER PRIMARY KEY, file TEXT NOT NULL);
"""
_ROW_SQL = f"INSERT INTO rows ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
# a score names its row by id; ids not in the pool are ignored, as they always were
_SCORE_SQL = "INSERT OR REPLACE INTO scores (row, name, value) SELECT seq, ?, ? FROM rows WHERE id = ?"


def row_id(prompt_index: int, seed: int) -> str:
    return f"{prompt_index:05d}-{seed}"


def _embed_key(prompt_index: int, field: str) -> str:
    """A conditioning field's key in an embeddings file: the prompt index for prompt_embeds (the one field of
    pools before models.Conditioning), "<index>.<field>" for the others."""
    return str(prompt_index) if field == "prompt_embeds" else f"{prompt_index}.{field}"


def _value(v) -> float:
    """A stored score: SQLite keeps NaN as NULL, which reads back as NaN (scores are floats: numpy and torch
    scalars are stored as their float)."""
    return math.nan if v is None else v


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, isolation_level=None)  # transactions are explicit (_transaction)
    db.execute("PRAGMA foreign_keys = ON")
    return db


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT; anything raised (or a kill) rolls the whole block back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _create(db: sqlite3.Connection) -> None:
    """The tables, inside the caller's transaction (executescript would commit it)."""
    for statement in filter(str.strip, _SCHEMA.split(";")):
        db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _insert(db: sqlite3.Connection, rows: Iterable[PoolRow]) -> None:
    """Rows and their scores, inside the caller's transaction. Rows are inserted in chunks so that a bulk
    insert (migration, benchmarks) holds one chunk of them in memory."""
    chunk: list[PoolRow] = []

    def flush() -> None:
        db.executemany(_ROW_SQL, ([getattr(r, c) for c in _COLUMNS] for r in chunk))
        db.executemany(_SCORE_SQL, ((k, float(v), r.id) for r in chunk for k, v in r.scores.items()))
        chunk.clear()

    for r in rows:
        chunk.append(r)
        if len(chunk) == 10_000:
            flush()
    flush()


def _old_rows(table: Path) -> Iterator[PoolRow]:
    """Complete rows of a rows.jsonl, in order; a torn last line (a run killed mid-append) is dropped."""
    with open(table, encoding="utf-8") as f:
        for line in f:
            try:
                yield PoolRow(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                return


def _migrate(root: Path) -> None:
    """Build pool.sqlite from a rows.jsonl pool (and index its prompt_embeds.safetensors), atomically."""
    with atomic_path(root / DB_FILE) as tmp:
        db = _connect(tmp)
        try:
            with _transaction(db):
                _create(db)
                _insert(db, _old_rows(root / ROWS_FILE))
                old_embeds = root / OLD_EMBEDS_FILE
                if old_embeds.exists():
                    with safe_open(old_embeds, "pt") as f:
                        keys = [int(k) for k in f.keys()]
                    db.executemany("INSERT INTO prompt_embeds VALUES (?, ?)", ((k, OLD_EMBEDS_FILE) for k in keys))
        finally:
            db.close()
    os.replace(root / ROWS_FILE, root / f"{ROWS_FILE}.migrated")


class PoolFiles:
    """The files of the pool in folder `root` (images, latents, prompt embeddings), without its table: what a process
    other than the main one of a multi-process run uses."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        (self.root / "latents").mkdir(exist_ok=True)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write_batch(self, rows: list[PoolRow], images: list[np.ndarray], latents: torch.Tensor) -> None:
        """A sampled batch's files: its images, then its latents (one file, named by its first row). Rows whose
        files exist but that are not in the table (a killed run's) are overwritten."""
        for row, image in zip(rows, images):
            with atomic_path(self.root / row.image) as tmp:
                Image.fromarray(image).save(tmp, format="PNG")
        save_tensors({r.id: latents[i] for i, r in enumerate(rows)}, self.root / rows[0].latents)

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

    def read_prompt_embeds(self, found: Iterable[tuple[int, str]]) -> dict[int, Conditioning]:
        """One-row conditionings by (prompt index, file) as Pool.embed_files lists them, reading only their
        tensors."""
        by_file: dict[str, list[int]] = {}
        for i, name in found:
            by_file.setdefault(name, []).append(i)
        out = {}
        for name, indices in by_file.items():
            with safe_open(self.root / name, "pt") as f:
                stored = set(f.keys())
                for i in indices:
                    keys = {field: _embed_key(i, field) for field in FIELDS}
                    out[i] = Conditioning.from_rows([{field: f.get_tensor(key) for field, key in keys.items()
                                                      if key in stored}])
        return out


class Pool(PoolFiles):
    """The pool in folder `root` (created if missing): its files and its table. One SQLite connection per Pool; in a
    multi-process run only the main process opens one."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.db_path = self.root / DB_FILE
        if (self.root / ROWS_FILE).exists():
            if self.db_path.exists():  # a migration killed after the database was in place: finish it
                os.replace(self.root / ROWS_FILE, self.root / f"{ROWS_FILE}.migrated")
            else:
                _migrate(self.root)
        self.db = _connect(self.db_path)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        if self.db.execute("PRAGMA user_version").fetchone()[0] == 0:
            with _transaction(self.db):
                if self.db.execute("PRAGMA user_version").fetchone()[0] == 0:  # not made by another process
                    _create(self.db)

    def close(self) -> None:
        self.db.close()

    # -- the table ---------------------------------------------------------------------------------------------

    def rows(self) -> list[PoolRow]:
        """Complete rows, in the order they were written."""
        by_seq = {seq: PoolRow(*values) for seq, *values in
                  self.db.execute(f"SELECT seq, {', '.join(_COLUMNS)} FROM rows ORDER BY seq")}
        for seq, name, value in self.db.execute("SELECT row, name, value FROM scores"):
            by_seq[seq].scores[name] = _value(value)
        return list(by_seq.values())

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM rows").fetchone()[0]

    def count(self) -> int:
        """How many rows the pool holds (without reading them)."""
        return len(self)

    def done_ids(self) -> set[str]:
        return {i for (i,) in self.db.execute("SELECT id FROM rows")}

    def insert(self, rows: Iterable[PoolRow]) -> None:
        """Add rows (with their scores) to the table in one transaction; their images and latents are the caller's
        to write first (append does). A row id already in the pool is an error (sqlite3.IntegrityError) and
        adds none of the batch."""
        with _transaction(self.db):
            _insert(self.db, rows)

    def append(self, rows: list[PoolRow], images: list[np.ndarray], latents: torch.Tensor) -> None:
        """A sampled batch: its images, then its latents, then its rows, so that every row's files exist. A batch
        with a row already in the pool is refused before any file is written (its latents file would be
        overwritten)."""
        present = self._present([r.id for r in rows])
        if present:
            raise ValueError(f"rows {sorted(present)[:5]} are already in the pool {self.root}")
        self.write_batch(rows, images, latents)
        self.insert(rows)

    def set_scores(self, scores: dict[str, dict[str, float]]) -> None:
        """Add or replace score columns (row id -> {name: value}) of existing rows in one transaction; ids not in
        the pool are ignored. Costs the batch, not the pool."""
        with _transaction(self.db):
            self.db.executemany(_SCORE_SQL, ((k, float(v), i) for i, columns in scores.items()
                                             for k, v in columns.items()))

    # -- the embeddings' index ---------------------------------------------------------------------------------

    def embedded_prompts(self) -> set[int]:
        """The prompt indices whose embedding is stored."""
        return {i for (i,) in self.db.execute("SELECT prompt_index FROM prompt_embeds")}

    def save_prompt_embeds(self, indices: list[int], embeds: Conditioning) -> None:
        """The conditioning of a batch of prompts (row j is prompt indices[j]'s): one file, then its index rows."""
        name = f"{EMBEDS_DIR}/{indices[0]:05d}.safetensors"
        (self.root / EMBEDS_DIR).mkdir(exist_ok=True)
        save_tensors({_embed_key(i, field): v for i, row in zip(indices, embeds.rows()) for field, v in row.items()},
                     self.root / name)
        with _transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO prompt_embeds VALUES (?, ?)", ((i, name) for i in indices))

    def prompt_embeds(self, indices: Iterable[int] | None = None) -> dict[int, Conditioning] | None:
        """The stored one-row conditionings of these prompt indices, reading only those tensors (an index not stored
        is a KeyError); without indices every stored one, None when there is none."""
        if indices is None:
            found = list(self.db.execute("SELECT prompt_index, file FROM prompt_embeds ORDER BY prompt_index"))
            return self.read_prompt_embeds(found) if found else None
        return self.read_prompt_embeds(self.embed_files(indices))

    def embed_files(self, indices: Iterable[int]) -> list[tuple[int, str]]:
        """(prompt index, file) of each stored embedding of these prompts (PoolFiles.read_prompt_embeds reads them);
        an index not stored is a KeyError."""
        wanted = sorted(set(indices))
        files = dict(self._where_in("SELECT prompt_index, file FROM prompt_embeds WHERE prompt_index", wanted))
        missing = [i for i in wanted if i not in files]
        if missing:
            raise KeyError(f"no stored embedding for prompt(s) {missing[:5]} in {self.root}")
        return [(i, files[i]) for i in wanted]

    def _present(self, ids: list[str]) -> set[str]:
        return {i for (i,) in self._where_in("SELECT id FROM rows WHERE id", ids)}

    def _where_in(self, query: str, values: list) -> list[tuple]:
        """query + " IN (values)", by the index, in parts of 500 (SQLite's limit on bound parameters)."""
        found = []
        for start in range(0, len(values), 500):
            part = values[start : start + 500]
            found += self.db.execute(f"{query} IN ({', '.join('?' * len(part))})", part).fetchall()
        return found

