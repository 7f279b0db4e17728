"""Measuring and tuning: recall against exact search, latency, and EF_RUNTIME tuning."""

from redvec.bench.tune import TunePoint, TuneResult, tune

__all__ = ["TunePoint", "TuneResult", "tune"]
