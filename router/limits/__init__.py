"""Per-key rate limits and budgets, counted at admission (``limiter.py``), on this replica's
counters (``local.py``) or Redis's (``shared.py``, ``V0_REDIS_URL``)."""

from router.limits.base import WINDOW_S, Ask, Hold, LimitExceeded, Limits, period_start
from router.limits.limiter import KeyLimiter

__all__ = ["WINDOW_S", "Ask", "Hold", "KeyLimiter", "LimitExceeded", "Limits", "period_start"]
