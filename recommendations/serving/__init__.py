"""The read path at request time: model loading, shopper history, candidates and rules,
assembly and reasons, the list cache; :mod:`recommendations.serving.pipeline` runs a
block's spec through them.

The package itself exposes the loaded version (:func:`active_model`, :func:`run_model`,
:func:`reset`, :func:`expire`, :class:`ServingModel`) and imports nothing above it, so
the write path (services, experiments) can use it without importing the pipeline.
"""

from __future__ import annotations

from recommendations.serving.loading import (
    ServingModel,
    active_experiment,
    active_model,
    expire,
    reset,
    run_model,
)
from recommendations.serving.state import MAX_OTHER_RUNS, ServingState, process_state

__all__ = [
    "MAX_OTHER_RUNS",
    "ServingModel",
    "ServingState",
    "active_experiment",
    "active_model",
    "expire",
    "process_state",
    "reset",
    "run_model",
]
