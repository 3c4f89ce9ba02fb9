"""``dl.ops.nn``: Keras's ``keras.ops.nn`` names (activations, convolution, pooling,
normalization, attention).

Each name is the same function as ``dl.ops.<name>``, as in Keras (``keras.ops.nn.relu is
keras.ops.relu``); Keras names that ``dl.ops`` lacks are absent here too.

Example:
    >>> import duallearn as dl
    >>> dl.ops.nn.relu is dl.ops.relu
    True
"""

from __future__ import annotations

from . import average_pool as average_pool
from . import celu as celu
from . import conv as conv
from . import dot_product_attention as dot_product_attention
from . import elu as elu
from . import gelu as gelu
from . import hard_sigmoid as hard_sigmoid
from . import hard_silu as hard_silu
from . import hard_swish as hard_swish
from . import layer_normalization as layer_normalization
from . import leaky_relu as leaky_relu
from . import log_sigmoid as log_sigmoid
from . import log_softmax as log_softmax
from . import max_pool as max_pool
from . import normalize as normalize
from . import one_hot as one_hot
from . import relu as relu
from . import relu6 as relu6
from . import selu as selu
from . import sigmoid as sigmoid
from . import silu as silu
from . import softmax as softmax
from . import softplus as softplus
from . import softsign as softsign
from . import swish as swish

__all__ = [
    "average_pool",
    "celu",
    "conv",
    "dot_product_attention",
    "elu",
    "gelu",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "layer_normalization",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "max_pool",
    "normalize",
    "one_hot",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
]
