"""MiniLM's query copy on ONNX Runtime: the same weights and the same vectors, ~2.6x faster for a query.

A query's forward pass in torch's eager mode was 21-26 ms of one core on the project's machines, the
largest stage of every assemble call; the same graph exported to ONNX and run by ONNX Runtime took
~9 ms, and its vectors differ from torch's by at most ~1e-7 (docs/ingest.md, "Queries on ONNX
Runtime"). The graph is exported in memory from the loaded model when the service starts (~2 s,
nothing downloaded, no file cached); if that fails the caller keeps a torch copy.
"""

from __future__ import annotations

import copy
import io
import threading
import warnings
from typing import Any, Sequence

import numpy as np
import torch  # already loaded with the model this copies


class OnnxQueryEncoder:
    """Mean-pooled, normalised sentence vectors of a sentence-transformers BERT model (MiniLM's
    modules: Transformer, mean Pooling, Normalize), on one ONNX Runtime thread per call."""

    def __init__(self, st_model: Any, name: str, version: str, dimension: int) -> None:
        import onnxruntime as ort

        transformer = st_model[0]
        self._tokenizer = copy.deepcopy(transformer.tokenizer)  # a fast tokenizer is not safe to share
        self._lock = threading.Lock()  # one call at a time on the tokenizer copy
        self._max_length = int(transformer.max_seq_length)
        self.name, self.version, self.dimension = name, version, dimension
        sample = self._tokenizer(["a query"], return_tensors="pt")
        buffer = io.BytesIO()
        # The tracer warns about Python branches on shapes (the graph is exported for any batch and
        # length all the same; the test compares vectors): not the operator's concern.
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_LastHidden(transformer.auto_model), (
                sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]), buffer,
                input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["hidden"],
                dynamic_axes={n: {0: "batch", 1: "tokens"}
                              for n in ("input_ids", "attention_mask", "token_type_ids", "hidden")},
                opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a query runs on one core, as in torch (embeddings/minilm.py)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            enc = self._tokenizer(list(texts), return_tensors="np", padding=True, truncation=True,
                                  max_length=self._max_length)
        mask = enc["attention_mask"].astype(np.int64)
        (hidden,) = self._session.run(None, {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": mask,
                                             "token_type_ids": enc["token_type_ids"].astype(np.int64)})
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)


class _LastHidden(torch.nn.Module):
    """The BERT model's last hidden state from positional inputs: what the exporter traces."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
