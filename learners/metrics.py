"""The one ``metrics.json`` schema of every learner (documented in ``docs/metrics.md``).

Every learner writes the :data:`COMMON` entries (``None`` where one does not apply: a model
trained from scratch has no dense model to compare with, a learner without a search has no
search time); its own entries are the names it declares in ``Learner.metrics_keys``; the run
adds the :data:`RUN` entries (export, latency, completion). :func:`validate` checks a file's
content against that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_EVAL = (dict,)
_OPTIONAL_EVAL = (dict, type(None))
_OPTIONAL_INT = (int, type(None))
_OPTIONAL_NUMBER = (int, float, type(None))

COMMON: dict[str, tuple[type, ...]] = {
    "learner": (str,),  # the --learner value
    "model": (str,),  # <model>_at_<dataset>
    "eval": _EVAL,  # the result on the evaluation split: accuracy, loss, nb_examples
    "dense_eval": _OPTIONAL_EVAL,  # the pre-trained (dense, float) model's
    "eval_before_finetuning": _OPTIONAL_EVAL,  # the compressed model's before its fine-tuning
    "params": (int,),  # parameters of the result
    "macs": (int,),  # multiply-accumulates of one inference of the result
    "dense_params": _OPTIONAL_INT,  # ... of the pre-trained model
    "dense_macs": _OPTIONAL_INT,
    "plan": (str, type(None)),  # path of the compression plan (plan.json)
    "search_seconds": _OPTIONAL_NUMBER,  # the search's time over every launch; None: no search
    "train": (dict,),  # the trainer's record: steps, seconds, images_per_sec, total_seconds ...
}
"""Entries every learner writes, with their types."""

RUN: dict[str, tuple[type, ...]] = {
    "export": (dict,),  # export.json's report: paths, sizes, accuracies, parity, int8 audit
    "latency": (list,),  # one row per TFLite file and thread count
    "sparse_export": (dict,),  # weight-sparse: the sparse-encoded TFLite
    "val": (dict,),  # a search trial's validation result
    "automl": (dict,),  # the AutoML search that chose the flags
    "completed_at": (str,),  # set by the run's last write only
}
"""Entries the run adds after the learner (each optional)."""


def validate(metrics: Mapping[str, Any], own_keys: Iterable[str] = ()) -> None:
    """Checks ``metrics`` against the schema of a learner whose own entries are ``own_keys``.

    Raises:
        ValueError: naming every missing common entry, entry of the wrong type and unknown entry.
    """
    own = set(own_keys)
    problems = [f"missing '{key}'" for key in COMMON if key not in metrics]
    for key, value in metrics.items():
        types = COMMON.get(key) or RUN.get(key)
        if types is None:
            if key not in own:
                problems.append(f"unknown '{key}'")
        elif not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            problems.append(f"'{key}' is a {type(value).__name__}, expected "
                            + " or ".join(t.__name__ for t in types))
    if "accuracy" not in metrics.get("eval", {}):
        problems.append("'eval' has no 'accuracy'")
    if problems:
        raise ValueError("Expected metrics that follow the metrics.json schema "
                         f"(learners.metrics). Received: {'; '.join(problems)}")
