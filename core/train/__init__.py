"""The training engine: transfer learning and training from scratch into run folders.

    from core.train import TrainConfig, train
    result = train(TrainConfig(data="shapes", model="efficientnet_lite0", epochs=10, augment="light"))
    result.run_dir, result.val_accuracy

Runs are listed and managed with :mod:`core.train.runs`, trained in the background with
:mod:`core.jobs`, and exported with :mod:`core.train.export`. Importing this package is cheap:
TensorFlow is only imported by the modules that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.train.config import AdversarialConfig, TrainConfig
from core.train.events import Listener, PrintListener
from core.train.runs import RunInfo, delete_run, get_run, list_runs, rename_run, share_run

if TYPE_CHECKING:
    from core.train.engine import TrainResult

__all__ = ["AdversarialConfig", "Listener", "PrintListener", "RunInfo", "TrainConfig", "TrainResult",
           "delete_run", "get_run", "list_runs", "rename_run", "share_run", "train"]


def train(config: TrainConfig, **kwargs: Any) -> TrainResult:
    """See :func:`core.train.engine.train`."""
    from core.train.engine import train as _train

    return _train(config, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "TrainResult":
        from core.train.engine import TrainResult

        return TrainResult
    raise AttributeError(name)
