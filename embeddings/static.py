"""A static embedding model distilled locally from all-MiniLM-L6-v2 (the model2vec recipe, no network).

Distillation runs MiniLM once over every word piece of its vocabulary alone ([CLS] piece [SEP],
mean-pooled, normalised), reduces the 384-dimensional outputs to `dimension` by PCA, and weights
each piece by how common it is (SIF weights over the vocabulary's frequency-ordered ids, as
model2vec does). Embedding a text is then a tokenizer call and a sum of table rows: no torch, no
attention, no length limit. The table is cached on disk, keyed by the base model's version, so
it is distilled once per machine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger("agentmem.embeddings")

NAME = "minilm-static-256"
DIMENSION = 256
RECIPE = "r1"  # change when the recipe changes: a new version, so namespaces migrate, never mix
SIF_COEFFICIENT = 1e-4
SPECIAL_IDS = 999  # bert-base-uncased: [PAD], [unused*], [UNK], [CLS], [SEP], [MASK] sit below this id


def version_of(base_version: str, dimension: int = DIMENSION) -> str:
    return f"distilled-{RECIPE}-pca{dimension}-from-{base_version}"


class StaticEmbedder:
    """Sum of per-word-piece vectors, normalised: ~100x faster than MiniLM on a CPU."""

    def __init__(self, tokenizer_path: str, table: np.ndarray, name: str, version: str) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(tokenizer_path)
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._table = table.astype(np.float32)
        self.name = name
        self.version = version
        self.dimension = int(table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, encoding in enumerate(self._tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids = [t for t in encoding.ids if t < len(self._table)]
            if ids:
                out[i] = self._table[ids].sum(axis=0)
        norms = np.linalg.norm(out, axis=1)
        empty = norms == 0
        out[empty, 0] = 1.0  # a text with no known piece: a fixed unit vector, never a NaN distance
        norms[empty] = 1.0
        return out / norms[:, None]


def distill(model_path: str, dimension: int = DIMENSION, token_ids: Sequence[int] | None = None,
            batch_size: int = 1024) -> np.ndarray:
    """The (vocabulary size, dimension) table; `token_ids` distils only those pieces (tests), others stay 0."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
    tokenizer = model.tokenizer
    transformer = model[0].auto_model
    vocab = len(tokenizer)
    ids = np.array(sorted(set(token_ids)) if token_ids is not None else range(vocab), dtype=np.int64)
    ids = ids[(ids >= SPECIAL_IDS) & (ids < vocab)]
    outputs = np.zeros((len(ids), transformer.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            piece = torch.from_numpy(ids[start : start + batch_size])[:, None]
            cls = torch.full_like(piece, tokenizer.cls_token_id)
            sep = torch.full_like(piece, tokenizer.sep_token_id)
            hidden = transformer(input_ids=torch.cat([cls, piece, sep], dim=1)).last_hidden_state
            pooled = torch.nn.functional.normalize(hidden.mean(dim=1), dim=1)
            outputs[start : start + len(piece)] = pooled.numpy()
    reduced = _pca(outputs, dimension)
    # SIF weights: common pieces (low ids in a frequency-ordered vocabulary) count less.
    rank = np.arange(2, vocab + 2, dtype=np.float64)
    proba = (1 / rank) / np.sum(1 / rank)
    weight = SIF_COEFFICIENT / (SIF_COEFFICIENT + proba)
    table = np.zeros((vocab, dimension), dtype=np.float32)
    table[ids] = reduced * weight[ids, None].astype(np.float32)
    return table


def _pca(x: np.ndarray, dimension: int) -> np.ndarray:
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = np.zeros((len(x), dimension), dtype=np.float32)
    k = min(dimension, vt.shape[0])
    out[:, :k] = centred @ vt[:k].T
    return out


def cached_table(model_path: str, base_version: str, cache_dir: Path, dimension: int = DIMENSION,
                 token_ids: Sequence[int] | None = None) -> np.ndarray:
    """The distilled table from `cache_dir`, distilled and saved there on first use."""
    key = version_of(base_version, dimension)
    if token_ids is not None:
        key += "-subset-" + hashlib.sha256(np.asarray(sorted(set(token_ids))).tobytes()).hexdigest()[:12]
    path = cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"
    if path.exists():
        return np.load(path)
    log.warning("distilling %s from %s into %s (once per machine)", NAME, base_version, path)
    table = distill(model_path, dimension, token_ids)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".npy.tmp", delete=False) as f:
        np.save(f, table)
    os.chmod(f.name, 0o644)  # a cache, not a secret (NamedTemporaryFile makes it 0600)
    os.replace(f.name, path)  # atomic: a concurrent reader sees the whole table or none
    return table


def load_static(cache_dir: Path, token_ids: Sequence[int] | None = None) -> StaticEmbedder:
    """The static model distilled from the installed all-MiniLM-L6-v2 package."""
    from agentmem.embeddings.minilm import minilm_path, minilm_version

    path, base = minilm_path(), minilm_version()
    table = cached_table(path, base, cache_dir, DIMENSION, token_ids)
    return StaticEmbedder(str(Path(path) / "tokenizer.json"), table, NAME, version_of(base))
