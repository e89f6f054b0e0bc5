"""The backbone's token-embedding table outside the ONNX graph, memory-mapped.

Dynamic int8 quantisation leaves the table (vocabulary × hidden, float32: 45 MiB for MiniLM)
as a graph initializer, so every serving process holds all of it. ``split_embeddings`` writes,
once and beside the ONNX file, a copy of the graph where that table is a graph input, and the
table as a ``.npy``; the runtime feeds it from ``np.load(mmap_mode="r")``, so only the pages of
tokens actually looked up are resident (and they are shared between worker processes). The
graph computes the same thing: outputs are bit-identical.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def split_paths(onnx_file: Path) -> tuple[Path, Path]:
    """(graph with the table as an input, the table as .npy) for ``onnx_file``."""
    return onnx_file.with_name(onnx_file.stem + "-extemb.onnx"), onnx_file.with_name(onnx_file.stem + "-embeddings.npy")


def split_embeddings(onnx_file: Path) -> tuple[Path, Path] | None:
    """-> (graph, table), built when missing; None when the graph has no float32 table gathered
    by ``input_ids``. The graph's one input besides ``input_ids`` and ``attention_mask`` is the table."""
    graph, table = split_paths(onnx_file)
    if graph.is_file() and table.is_file():
        return graph, table
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_file))
    inits = {i.name: i for i in model.graph.initializer}
    gather = next((n for n in model.graph.node if n.op_type == "Gather" and n.input[1] == "input_ids"
                   and n.input[0] in inits), None)
    if gather is None or inits[gather.input[0]].data_type != onnx.TensorProto.FLOAT:
        return None
    init = inits[gather.input[0]]
    weights = numpy_helper.to_array(init)  # (V, H)
    model.graph.initializer.remove(init)
    model.graph.input.append(onnx.helper.make_tensor_value_info(init.name, onnx.TensorProto.FLOAT, list(weights.shape)))
    pid = os.getpid()  # written under temporary names, then renamed: concurrent starts never read half a file
    with open(f"{table}.{pid}.tmp", "wb") as f:
        np.save(f, weights)
    onnx.save(model, f"{graph}.{pid}.tmp")
    os.replace(f"{table}.{pid}.tmp", table)  # the table first: a graph on disk means both are
    os.replace(f"{graph}.{pid}.tmp", graph)
    return graph, table
