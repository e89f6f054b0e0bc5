"""The daily cap on judge and shadow spend (``grading.max_usd_per_day``, per UTC day).

A call reserves its estimated cost before it is made (refused when spent + reserved + estimate
would pass the cap) and settles to its real cost after. Spend is kept per process and, every
``sync`` (the gateway syncs on its poll loop), raised to the day's total in the grading log, so
replicas sharing a database also share the cap (to within what they spend between syncs).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


class DailyBudget:
    def __init__(self, *, today: Callable[[], date] = utc_today) -> None:
        self._today = today
        self._day = today()
        self.spent = 0.0  # settled today (this process, or the log's total when higher)
        self.reserved = 0.0  # estimates of calls in flight

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self.spent = day, 0.0

    def reserve(self, estimate: float, cap: float) -> bool:
        """Hold ``estimate`` USD for a call; False (nothing held) when it would pass ``cap``."""
        self._roll()
        if self.spent + self.reserved + estimate > cap:
            return False
        self.reserved += estimate
        return True

    def left(self, cap: float) -> float:
        """USD a new call may still reserve today under ``cap``."""
        self._roll()
        return max(0.0, cap - self.spent - self.reserved)

    def settle(self, estimate: float, cost: float) -> None:
        """The call that held ``estimate`` cost ``cost``."""
        self._roll()
        self.reserved = max(0.0, self.reserved - estimate)
        self.spent += cost

    def sync(self, logged_today: float, day: date) -> None:
        """The grading log's spend for ``day`` (every replica's): keep the higher figure."""
        self._roll()
        if day == self._day:
            self.spent = max(self.spent, logged_today)

    @property
    def day(self) -> date:
        self._roll()
        return self._day
