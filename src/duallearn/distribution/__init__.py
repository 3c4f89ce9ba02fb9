"""Data-parallel training (Keras 3's ``keras.distribution`` names; docs/distributed.md).

``dl.distribution.set_distribution(dl.distribution.DataParallel())`` makes ``fit``,
``evaluate`` and ``predict`` run data-parallel over the processes started by ``duallearn
launch --nproc N script.py`` (or ``torchrun``), with the numbers of one process training on
the whole batch. Importing this module imports no framework.
"""

from ._data_parallel import DataParallel as DataParallel
from ._data_parallel import distribution as distribution
from ._data_parallel import list_devices as list_devices
from ._data_parallel import set_distribution as set_distribution
from ._env import num_processes as num_processes
from ._env import process_index as process_index

__all__ = [
    "DataParallel",
    "distribution",
    "list_devices",
    "num_processes",
    "process_index",
    "set_distribution",
]
