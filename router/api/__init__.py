"""HTTP routes: openai.py (OpenAI-compatible), health.py; errors.py and deps.py are shared."""
