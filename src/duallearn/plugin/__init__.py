"""Backend selection and the plugin contract (public: plugins import from here).

Besides the contract (``Backend``, ``Runtime``, ``GraphSpec``...) and the pieces backends
share (native-layer bases, mixins), a few front-end constants that backends must use to
compute the same formulas are re-exported here (``axis_pads``, the optimizer slot names,
``TORCH_CLIP_EPS``), so that backends never import a private front-end module.
"""

from ..layers._conv import axis_pads as axis_pads
from ..optimizers._optimizer import ACCUMULATOR_SLOT as ACCUMULATOR_SLOT
from ..optimizers._optimizer import EMA_SLOT as EMA_SLOT
from ..optimizers._optimizer import TORCH_CLIP_EPS as TORCH_CLIP_EPS
from ._attention import LARGE_NEGATIVE as LARGE_NEGATIVE
from ._attention import AttentionMixin as AttentionMixin
from ._attention import AttentionPrimitives as AttentionPrimitives
from ._attention import MultiHeadAttentionMixin as MultiHeadAttentionMixin
from ._base import Backend as Backend
from ._base import GraphSpec as GraphSpec
from ._base import Node as Node
from ._base import Runtime as Runtime
from ._base import StepNoise as StepNoise
from ._base import TrainSpec as TrainSpec
from ._base import bind_variable as bind_variable
from ._base import optimizer_for as optimizer_for
from ._compose import check_unstack as check_unstack
from ._compose import composed_ops as composed_ops
from ._custom import CompositeLayer as CompositeLayer
from ._custom import NestedModelLayer as NestedModelLayer
from ._custom import OpsLayer as OpsLayer
from ._custom import call_kwargs as call_kwargs
from ._custom import check_portable as check_portable
from ._formula import FormulaLayer as FormulaLayer
from ._formula import activation_getter as activation_getter
from ._losses import LOSS_EPSILON as LOSS_EPSILON
from ._losses import LOSS_FORMULAS as LOSS_FORMULAS
from ._losses import LossFn as LossFn
from ._losses import formula_table as formula_table
from ._losses import loss_fn_class as loss_fn_class
from ._merging import MERGES as MERGES
from ._merging import MergePrimitives as MergePrimitives
from ._metrics import MEAN_METRIC_FORMULAS as MEAN_METRIC_FORMULAS
from ._metrics import METRIC_DELTA_FORMULAS as METRIC_DELTA_FORMULAS
from ._metrics import metric_delta as metric_delta
from ._native import FAMILIES as FAMILIES
from ._native import NativeLayer as NativeLayer
from ._native import NativeRegistry as NativeRegistry
from ._native import dtype_table as dtype_table
from ._native import load_families as load_families
from ._native import variable_binder as variable_binder
from ._ops import arange_args as arange_args
from ._ops import as_shape as as_shape
from ._ops import attention_op as attention_op
from ._ops import check_pad_mode as check_pad_mode
from ._ops import check_sections as check_sections
from ._ops import conv_op as conv_op
from ._ops import filled_like_op as filled_like_op
from ._ops import filled_op as filled_op
from ._ops import flip_axes as flip_axes
from ._ops import index_key as index_key
from ._ops import layer_normalization_op as layer_normalization_op
from ._ops import pool_op as pool_op
from ._ops import same_pads as same_pads
from ._ops import tensor_converter as tensor_converter
from ._ops import tile_reps as tile_reps
from ._preprocessing import IMAGE_LAYERS as IMAGE_LAYERS
from ._recurrent import BidirectionalMixin as BidirectionalMixin
from ._recurrent import GRUCellMixin as GRUCellMixin
from ._recurrent import LSTMCellMixin as LSTMCellMixin
from ._recurrent import RNNMixin as RNNMixin
from ._recurrent import SimpleRNNCellMixin as SimpleRNNCellMixin
from ._registry import available_backends as available_backends
from ._registry import get_backend as get_backend
from ._registry import registered_backends as registered_backends
from ._runtime import NativeRuntime as NativeRuntime
from ._runtime import SlotState as SlotState
from ._runtime import WalkedNet as WalkedNet
from ._select import backend_name as backend_name
from ._select import current_backend as current_backend
from ._select import selection as selection
from ._select import set_backend as set_backend
from ._select import use_backend as use_backend
from ._time_distributed import TimeDistributedMixin as TimeDistributedMixin
from ._walk import GraphWalk as GraphWalk

__all__ = [
    "ACCUMULATOR_SLOT",
    "EMA_SLOT",
    "TORCH_CLIP_EPS",
    "axis_pads",
    "CompositeLayer",
    "FAMILIES",
    "NativeLayer",
    "NativeRegistry",
    "NestedModelLayer",
    "OpsLayer",
    "call_kwargs",
    "check_unstack",
    "composed_ops",
    "FormulaLayer",
    "activation_getter",
    "TimeDistributedMixin",
    "check_portable",
    "load_families",
    "dtype_table",
    "variable_binder",
    "Backend",
    "GraphSpec",
    "GraphWalk",
    "LOSS_EPSILON",
    "LOSS_FORMULAS",
    "LossFn",
    "MEAN_METRIC_FORMULAS",
    "METRIC_DELTA_FORMULAS",
    "NativeRuntime",
    "Node",
    "Runtime",
    "SlotState",
    "StepNoise",
    "TrainSpec",
    "WalkedNet",
    "arange_args",
    "available_backends",
    "bind_variable",
    "formula_table",
    "loss_fn_class",
    "metric_delta",
    "as_shape",
    "attention_op",
    "check_pad_mode",
    "check_sections",
    "conv_op",
    "filled_like_op",
    "filled_op",
    "flip_axes",
    "index_key",
    "layer_normalization_op",
    "pool_op",
    "same_pads",
    "tensor_converter",
    "tile_reps",
    "backend_name",
    "current_backend",
    "get_backend",
    "optimizer_for",
    "registered_backends",
    "selection",
    "set_backend",
    "use_backend",
    "IMAGE_LAYERS",
    "MERGES",
    "MergePrimitives",
    "AttentionMixin",
    "AttentionPrimitives",
    "LARGE_NEGATIVE",
    "MultiHeadAttentionMixin",
    "BidirectionalMixin",
    "GRUCellMixin",
    "LSTMCellMixin",
    "RNNMixin",
    "SimpleRNNCellMixin",
]
