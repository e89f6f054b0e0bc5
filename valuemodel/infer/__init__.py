"""Inference without torch: the V0 hot path on onnxruntime + numpy (``V0Runtime``).

Same weights, same fingerprint and the same features as :class:`valuemodel.V0` on CPU (the
parity test holds them to 1e-5); the gateway's ``serve`` uses this so it never imports torch.
The ONNX backbone file is built (with torch) by ``v0-gateway prepare``, or on first load in a
short-lived subprocess when it is missing.
"""

from .backbone import Unsupported
from .runtime import NUMPY_HEADS, V0Runtime

__all__ = ["NUMPY_HEADS", "Unsupported", "V0Runtime"]
