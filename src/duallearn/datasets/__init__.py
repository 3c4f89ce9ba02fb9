"""``dl.datasets``: Keras 3's built-in datasets, from the same URLs and with the same hashes.

Files are downloaded once (``dl.utils.get_file``) into ``$DUALLEARN_HOME/datasets`` (default
``~/.duallearn/datasets``) with Keras's file and folder names, so a copy from
``~/.keras/datasets`` can be placed there by hand. See docs/datasets.md.
"""

from . import boston_housing as boston_housing
from . import california_housing as california_housing
from . import cifar10 as cifar10
from . import cifar100 as cifar100
from . import fashion_mnist as fashion_mnist
from . import imdb as imdb
from . import mnist as mnist
from . import reuters as reuters

__all__ = [
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "mnist",
    "reuters",
]
