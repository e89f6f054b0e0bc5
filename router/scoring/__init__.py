"""Everything that turns a request's text into P(success) for each candidate.

- ``base``: the :class:`Scorer` protocol the router calls, the :class:`ScoreResult` it gets, and
  ``score_batch`` (many queries in one call).
- ``batcher``: the one scoring thread that scores every waiting request as one batch; ``guard``:
  its time limit, circuit breaker and bounded queue.
- ``text``: which text is scored (``routing_text``).
- ``v0``: :class:`V0Scorer`, the gateway's scorer: V0 over each candidate's stored profile,
  with the profile states kept ready (``refresh``) and the request path (``score``).
- ``features`` / ``feature_store``: profile prompts' features, cached in memory and shared by
  replicas through the database; ``profile_cache``: the last known profiles on local disk.
- ``stand_in``: a fixed placeholder scorer for tests and demos.

This package's top level imports no model code (torch stays out of the API layer); import
``router.scoring.v0`` where V0 itself is needed.
"""

from router.scoring.base import ScoreResult, Scorer
from router.scoring.text import message_text, routing_text

__all__ = ["ScoreResult", "Scorer", "message_text", "routing_text"]
