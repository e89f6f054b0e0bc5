"""LiteLLM, configured once per process before its first import: the bundled cost map (no network
fetch of the price list), quiet loggers, no telemetry. Every entry point calls
:func:`configure_litellm` at startup (cheap: it does not import LiteLLM); every module that needs
LiteLLM gets it from :func:`litellm_module`, which configures first, so nothing imports it
unconfigured even outside an entry point."""

from __future__ import annotations

import functools
import logging
import os
from types import ModuleType


def configure_litellm() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.ERROR)


@functools.cache
def litellm_module() -> ModuleType:
    configure_litellm()
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm
