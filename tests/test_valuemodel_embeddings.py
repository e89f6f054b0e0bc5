"""The serving graph with the token table outside it (valuemodel/infer/embeddings.py): built
once from the real int8 backbone, bit-identical outputs, the table memory-mapped, not resident."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import onnxruntime as ort

from valuemodel.backbone_files import onnx_paths
from valuemodel.infer import V0Runtime
from valuemodel.infer.embeddings import split_embeddings


def test_split_graph_gives_the_same_outputs_and_maps_the_table(tmp_path):
    runtime = V0Runtime.load()  # builds the int8 file (and its split copy) when missing
    source = onnx_paths(runtime.backbone.weights_key)[1]
    original = tmp_path / source.name
    shutil.copy(source, original)
    graph, table = split_embeddings(original)
    built = graph.stat().st_mtime_ns, table.stat().st_mtime_ns
    assert split_embeddings(original) == (graph, table)  # built once, then reused as is
    assert (graph.stat().st_mtime_ns, table.stat().st_mtime_ns) == built

    model = onnx.load(str(graph))
    extra = [i.name for i in model.graph.input if i.name not in ("input_ids", "attention_mask")]
    assert len(extra) == 1 and extra[0] not in {i.name for i in model.graph.initializer}
    weights = np.load(table, mmap_mode="r")
    assert weights.dtype == np.float32 and weights.shape[1] == runtime.backbone.hidden_size

    ids = np.array([[101, 7592, 2088, 1010, 2129, 2024, 2017, 102]], np.int64)
    mask = np.ones_like(ids)
    want = ort.InferenceSession(str(original), providers=["CPUExecutionProvider"]).run(
        None, {"input_ids": ids, "attention_mask": mask})
    got = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).run(
        None, {"input_ids": ids, "attention_mask": mask, extra[0]: weights})
    for g, w in zip(got, want):
        assert np.array_equal(g, w)

    feeds = runtime.backbone._feeds  # what serving passes: the memory-mapped table
    assert len(feeds) == 1 and all(isinstance(v, np.memmap) for v in feeds.values())
