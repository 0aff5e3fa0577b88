"""Running the core: the Trainer, its callbacks, curves and checkpoints."""

from minigrad.training.callbacks import Callback, PrintLoss, TimeToAccuracy
from minigrad.training.checkpoint import (
    CheckpointError,
    PeriodicCheckpoint,
    load_checkpoint,
    save_checkpoint,
)
from minigrad.training.early_stopping import EarlyStopping
from minigrad.training.history import History
from minigrad.training.keep_best import KeepBest
from minigrad.training.trainer import DivergenceError, Trainer

__all__ = [
    "Callback",
    "CheckpointError",
    "DivergenceError",
    "EarlyStopping",
    "History",
    "KeepBest",
    "PeriodicCheckpoint",
    "PrintLoss",
    "TimeToAccuracy",
    "Trainer",
    "load_checkpoint",
    "save_checkpoint",
]
