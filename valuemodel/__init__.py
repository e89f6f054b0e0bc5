"""V0 value model: predicts a model's P(success) on a prompt from its performance profile."""

from .heads.base import ProfileState
from .model import V0, V0Config

__all__ = ["V0", "V0Config", "ProfileState"]
