"""Tuning: keras-tuner searches (``litelab tune``) and the course's manual study
(``litelab experiment``)."""

from litelab.tune.search import TuneResult, TuneSettings, tune

__all__ = ["TuneResult", "TuneSettings", "tune"]
