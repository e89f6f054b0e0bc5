"""Gateway overhead beside LiteLLM's proxy: ``python -m bench.overhead.run`` (see run.py)."""
