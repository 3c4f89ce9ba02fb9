"""Callbacks (Keras's hooks and names)."""

from ._callback import Callback as Callback
from ._callback import CallbackList as CallbackList
from ._checkpoint import BackupAndRestore as BackupAndRestore
from ._checkpoint import ModelCheckpoint as ModelCheckpoint
from ._early_stopping import EarlyStopping as EarlyStopping
from ._history import History as History
from ._lr import LearningRateScheduler as LearningRateScheduler
from ._lr import ReduceLROnPlateau as ReduceLROnPlateau
from ._misc import CSVLogger as CSVLogger
from ._misc import LambdaCallback as LambdaCallback
from ._misc import TerminateOnNaN as TerminateOnNaN
from ._tensorboard import TensorBoard as TensorBoard

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]
