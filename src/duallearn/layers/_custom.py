"""Layers that run user code: ``OpLayer`` (a ``dl.ops`` call on symbolic tensors),
``Lambda``, and the native escape hatches ``TorchModule`` / ``TFModule``.

Layers whose ``call`` is Python code run on either backend through the backend's ``__ops__``
fallback: it binds each :class:`Weight` to its native variable and calls ``call`` with native
tensors (docs/custom_layers.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import initializers as _init
from ..errors import ConfigError, SerializationError
from ._layer import REGISTRY, Layer


def infer_shape(layer: Layer, input_shape: Any, dtypes: Sequence[str] | None = None) -> Any:
    """Output shape of a layer whose ``call`` uses ``dl.ops`` (numpy probe)."""
    from ..ops._symbolic import infer_output_shape
    from ..random import shape_probe

    with shape_probe():
        return infer_output_shape(lambda x: layer.call(x), input_shape, dtypes)  # type: ignore[attr-defined]


def _shape_params(fn: Any) -> list[str]:
    params = inspect.signature(fn).parameters.values()
    kinds = (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [p.name for p in params if p.kind in kinds]


def _aligned(layer: Layer, fn: Any, shapes: dict[str, Any]) -> dict[str, Any]:
    """Keras's rule for ``build`` / ``compute_output_shape`` of a call with several tensor
    arguments: one parameter gets the first tensor argument's shape; several must be named
    ``<call argument>_shape``."""
    names = _shape_params(fn)
    if len(names) == 1:
        return {names[0]: next(iter(shapes.values()), None)}
    missing = [n for n in names if n not in shapes]
    if missing:
        raise ConfigError(
            f"Layer {layer.name!r} ({type(layer).__name__}): for a `{fn.__name__}()` method "
            "with more than one argument, all arguments should have a `_shape` suffix and "
            f"match an argument from `call()`. Received: {missing}. Expected names from: "
            f"{sorted(shapes)}. Fix: e.g. {fn.__name__}(self, foo_shape, bar_shape)."
        )
    return {n: shapes[n] for n in names}


def _normalize_shapes(out: Any) -> Any:
    if (
        isinstance(out, (list, tuple))
        and out
        and all(isinstance(o, (list, tuple)) or o is None for o in out)
    ):
        return [None if o is None else tuple(o) for o in out]
    return tuple(out)


def build_for_call(layer: Layer, template: dict[str, Any], tensors: Sequence[Any]) -> None:
    """Build ``layer`` for a call with several tensor arguments (``template``, from
    ``encode_call``, over symbolic ``tensors``) and set ``layer.output_shape``, as Keras:
    ``build`` / ``compute_output_shape`` get the shape of the first tensor argument, or, when
    they take several parameters, ``<argument>_shape`` by name. Without a
    ``compute_output_shape`` of its own, the shape comes from running ``call`` with the
    numpy reference on zero inputs."""
    from ..ops._symbolic import infer_output_shape
    from ..random import shape_probe
    from ._input import CallArgs, SymbolicTensor

    call = CallArgs.rebuild(template, tensors)
    bound = inspect.signature(layer.call).bind(*call.args, **call.kwargs)  # type: ignore[attr-defined]
    var = {
        p.name
        for p in inspect.signature(layer.call).parameters.values()  # type: ignore[attr-defined]
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }
    shapes: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if name == "mask" or name in var:
            continue
        holder = CallArgs((value,), {})
        found = holder.leaves(lambda v: isinstance(v, SymbolicTensor))
        if found:
            shapes[f"{name}_shape"] = holder.map(
                lambda t: tuple(t.shape), lambda v: isinstance(v, SymbolicTensor)
            ).args[0]
    if not layer.built:
        if type(layer).build is not Layer.build:
            layer.build(**_aligned(layer, layer.build, shapes))
        layer.built = True
        layer.input_shape = next(iter(shapes.values()), None)
    if type(layer).compute_output_shape is not Layer.compute_output_shape:
        out = layer.compute_output_shape(**_aligned(layer, layer.compute_output_shape, shapes))
        layer.output_shape = _normalize_shapes(out)
        return

    def run(xs: list[Any]) -> Any:
        c = CallArgs.rebuild(template, xs)
        return layer.call(*c.args, **c.kwargs)  # type: ignore[attr-defined]

    with shape_probe():
        layer.output_shape = infer_output_shape(
            run, [tuple(t.shape) for t in tensors], [t.dtype for t in tensors]
        )


def numpy_call(
    layer: Layer, inputs: Any, weights: Sequence[np.ndarray] | None = None, **kwargs: Any
) -> Any:
    """Run ``layer.call`` with the numpy ops (the reference forward of a custom layer);
    ``weights`` (in ``layer.weights`` order) replace the current values when given."""
    from ..ops import _numpy, native_call

    given = None
    if weights is not None:
        given = {id(w): np.asarray(v) for w, v in zip(layer.weights, weights, strict=True)}
    with native_call(_numpy, given):
        return layer.call(inputs, **kwargs)  # type: ignore[attr-defined]


def user_call(layer: Layer) -> bool:
    """Whether ``layer``'s class defines ``call`` in user code (a custom layer)."""
    call = getattr(type(layer), "call", None)
    return call is not None and not call.__module__.startswith("duallearn.")


def tracked_sublayers(layer: Layer) -> list[Layer]:
    """Layers held in a custom layer's public attributes (lists and dicts too), in
    assignment order: Keras's tracking, which orders their weights after the layer's own."""
    found: list[Layer] = []

    def add(v: object) -> None:
        if isinstance(v, Layer) and v is not layer and all(v is not f for f in found):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            for a in v:
                add(a)
        elif isinstance(v, dict):
            for a in v.values():
                add(a)

    for k, v in vars(layer).items():
        if not k.startswith("_"):
            add(v)
    return found


def numpy_sublayer(layer: Layer, inputs: Any, training: bool) -> Any:
    """A layer called inside a custom layer's ``call`` during a numpy run: built on first
    use (from the input shape, batch dimension None), then its numpy reference."""
    from ._input import CallArgs

    if isinstance(inputs, CallArgs):
        return _numpy_call_args(layer, inputs, training)
    many = isinstance(inputs, (list, tuple))
    shapes = [(None, *np.shape(a)[1:]) for a in (inputs if many else [inputs])]
    layer._ensure_built(shapes if many else shapes[0])
    if user_call(layer):
        from ..ops._dispatch import _training

        token = _training.set(bool(training))
        try:
            return layer.call(inputs)  # type: ignore[attr-defined]
        finally:
            _training.reset(token)
    from ..ops._dispatch import numpy_value

    values = [numpy_value(w) for w in layer.weights]
    return layer.reference(values, list(inputs) if many else inputs, bool(training))


def _numpy_call_args(layer: Layer, call: Any, training: bool) -> Any:
    """A custom sublayer called with several arguments during a numpy run."""
    from ..ops._dispatch import _training
    from ._input import SymbolicTensor, encode_call

    if not layer.built:
        is_array = lambda v: isinstance(v, np.ndarray)  # noqa: E731
        syms = call.map(
            lambda a: SymbolicTensor((None, *a.shape[1:]), str(a.dtype), "probe"), is_array
        )
        flat: list[Any] = []
        template = {
            "args": [encode_call(a, flat, repr(layer)) for a in syms.args],
            "kwargs": {k: encode_call(v, flat, repr(layer)) for k, v in syms.kwargs.items()},
        }
        build_for_call(layer, template, flat)
    kwargs = dict(call.kwargs)
    if "training" in _call_params(layer):
        kwargs["training"] = bool(training)
    token = _training.set(bool(training))
    try:
        return layer.call(*call.args, **kwargs)  # type: ignore[attr-defined]
    finally:
        _training.reset(token)


def _call_params(layer: Layer) -> set[str]:
    params = inspect.signature(layer.call).parameters  # type: ignore[attr-defined]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"training", "mask"}
    return set(params)


@REGISTRY.register()
class OpLayer(Layer):
    """One ``dl.ops`` call recorded on symbolic tensors (``dl.ops.add(x, y)`` in a functional
    graph). Its config names the op and its constant arguments; only ``dl.ops`` functions
    can be named, so loading one runs nothing else."""

    _is_op = True

    def __init__(
        self,
        op: str,
        args: list[Any],
        kwargs: dict[str, Any] | None = None,
        input_dtypes: Sequence[str] | None = None,
        **base: Any,
    ) -> None:
        from .. import ops

        namespace, _, short = op.rpartition(".")
        known = {"": ops.NAMES, "image": tuple(ops.image.__all__)}.get(namespace, ())
        if short not in known:  # "image.resize": a name of dl.ops.image
            raise SerializationError(f"Unknown dl.ops function {op!r} in an OpLayer config.")
        base.setdefault("name", None)
        if base["name"] is None:
            from .. import _naming

            base["name"] = _naming.unique_name(op)
        super().__init__(**base)
        self.op, self.args, self.kwargs = op, list(args), dict(kwargs or {})
        self.input_dtypes = list(input_dtypes) if input_dtypes else None
        self._fn = getattr(getattr(ops, namespace) if namespace else ops, short)

    def call(self, inputs: list[Any]) -> Any:
        from ..ops._symbolic import decode

        args = [decode(a, inputs) for a in self.args]
        kwargs = {k: decode(v, inputs) for k, v in self.kwargs.items()}
        out = self._fn(*args, **kwargs)
        return list(out) if isinstance(out, tuple) else out

    def compute_output_shape(self, input_shape: Any) -> Any:
        from ..ops._symbolic import infer_output_shape

        return infer_output_shape(self.call, input_shape, self.input_dtypes)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return numpy_call(self, x)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "op": self.op,
            "args": self.args,
            "kwargs": self.kwargs,
            "input_dtypes": self.input_dtypes,
        }


@REGISTRY.register()
class Lambda(Layer):
    """Wraps ``function(inputs, **arguments)`` (written with ``dl.ops``) as a layer.

    Differs from Keras: a Lambda is never rebuilt from a file's bytecode (Keras's Lambda
    loading has a history of code-execution CVEs). Loading a model that contains one asks for
    the function: ``dl.load_model(path, custom_objects={"<function name>": fn})``.
    """

    _needs_custom_objects = True
    supports_masking = True

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise ConfigError(f"Lambda needs a callable. Received: {function!r}.")
        self.function = function
        self._output_shape = output_shape
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is not None:
            shp = self._output_shape
            return (input_shape[0] if not isinstance(input_shape, list) else None, *shp)
        return infer_shape(self, input_shape)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return numpy_call(self, x)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "function": getattr(self.function, "__name__", "<lambda>"),
            "output_shape": None if self._output_shape is None else list(self._output_shape),
            "arguments": self.arguments,
        }

    @classmethod
    def from_config(  # type: ignore[override]
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Lambda:
        cfg = dict(config)
        name = cfg.pop("function", None)
        fn = (custom_objects or {}).get(name) if name else None
        if fn is None:
            raise SerializationError(
                f"Layer {cfg.get('name')!r} is a Lambda of function {name!r}. duallearn never "
                "loads code from a file. Fix: pass the function, e.g. "
                f"dl.load_model(path, custom_objects={{{name!r}: {name}}})."
            )
        return cls(fn, **cfg)


class _Given(_init.Initializer):
    def __init__(self, value: np.ndarray) -> None:
        super().__init__()
        self.value = value

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        return self.value

    def __call__(self, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
        return np.asarray(self.value, dtype=dtype).reshape(shape)


class _NativeModule(Layer):
    """Base of the native escape hatches: weights are the module's own tensors."""

    native_backend = ""
    _needs_custom_objects = True

    def __init__(self, module: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.module = module
        for name, value, trainable in self._native_weights():
            self.add_weight(
                name, value.shape, _Given(value), trainable=trainable, dtype=str(value.dtype)
            )

    def _native_weights(self) -> list[tuple[str, np.ndarray, bool]]:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self._probe_shape(input_shape)

    def _probe_shape(self, input_shape: Any) -> Any:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "module": type(self.module).__name__}

    @classmethod
    def from_config(  # type: ignore[override]
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Layer:
        cfg = dict(config)
        cfg.pop("module", None)
        module = (custom_objects or {}).get(str(cfg.get("name")))
        if module is None:
            raise SerializationError(
                f"Layer {cfg.get('name')!r} is a {cls.__name__} wrapping native code, which is "
                "not portable and never rebuilt from a file. Fix: build the module again and "
                f"pass it: dl.load_model(path, custom_objects={{{cfg.get('name')!r}: module}}) "
                "(the weights are then loaded from the file)."
            )
        return cls(module, **cfg)


@REGISTRY.register()
class TorchModule(_NativeModule):
    """A native ``torch.nn.Module`` as a layer: runs on the torch backend only (not
    portable), trains its parameters (buffers are non-trainable weights), and saves them as
    plain tensors. Input and output: one tensor each, channels as the module expects."""

    native_backend = "torch"

    def _native_weights(self) -> list[tuple[str, np.ndarray, bool]]:
        if not hasattr(self.module, "named_parameters"):
            raise ConfigError(
                f"TorchModule wraps a torch.nn.Module. Received: {type(self.module).__name__}."
            )
        out = [
            (n, p.detach().cpu().numpy().copy(), bool(p.requires_grad))
            for n, p in self.module.named_parameters()
        ]
        out += [(n, b.detach().cpu().numpy().copy(), False) for n, b in self.module.named_buffers()]
        return out

    def _probe_shape(self, input_shape: Any) -> Any:
        import torch

        shapes = []
        for batch in (2, 3):
            x = torch.zeros(
                tuple(batch if d is None else d for d in input_shape),
                dtype=getattr(torch, self.dtype),
            )
            with torch.no_grad():
                shapes.append(tuple(self.module(x).shape))
        return tuple(None if a != b else a for a, b in zip(*shapes, strict=True))


@REGISTRY.register()
class TFModule(_NativeModule):
    """A native ``tf.Module`` (or any callable over tf tensors) as a layer: runs on the
    TensorFlow backend only (not portable); its ``trainable_variables`` train, its other
    variables are non-trainable weights, all saved as plain tensors."""

    native_backend = "tensorflow"

    def _variables(self) -> tuple[list[Any], list[Any]]:
        train = list(getattr(self.module, "trainable_variables", []))
        ids = {id(v) for v in train}
        rest = [v for v in getattr(self.module, "variables", []) if id(v) not in ids]
        return train, rest

    def _native_weights(self) -> list[tuple[str, np.ndarray, bool]]:
        train, rest = self._variables()
        return [(v.name.split(":")[0].replace("/", "_"), v.numpy().copy(), True) for v in train] + [
            (v.name.split(":")[0].replace("/", "_"), v.numpy().copy(), False) for v in rest
        ]

    def _probe_shape(self, input_shape: Any) -> Any:
        import tensorflow as tf

        shapes = []
        for batch in (2, 3):
            x = tf.zeros(tuple(batch if d is None else d for d in input_shape), dtype=self.dtype)
            shapes.append(tuple(self.module(x).shape))
        return tuple(None if a != b else a for a, b in zip(*shapes, strict=True))


@REGISTRY.register()
class TorchModuleWrapper(TorchModule):
    """Keras's name for :class:`TorchModule` (``keras.layers.TorchModuleWrapper(module,
    name=None, output_shape=None)``): a ``torch.nn.Module`` as a layer, torch backend only.
    ``output_shape``, when given, is returned by ``compute_output_shape`` (the full shape,
    batch included, as Keras) instead of probing the module. ``training`` switches the
    module's ``train()``/``eval()`` mode, as Keras.

    Differs from Keras: the config does not pickle the module (Keras stores
    ``torch.save(module)`` in base64 and needs ``safe_mode=False`` to load it); loading
    takes the rebuilt module through ``custom_objects={layer_name: module}`` and then
    restores the saved parameters and buffers (Keras restores the ``state_dict`` too).
    """

    def __init__(
        self, module: Any, name: str | None = None, output_shape: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(module, name=name, **kwargs)
        if output_shape is not None and not (
            isinstance(output_shape, (list, tuple))
            and all(d is None or (isinstance(d, int) and d >= 0) for d in output_shape)
        ):
            raise ConfigError(
                "TorchModuleWrapper: output_shape must be None or a tuple of ints (None for "
                f"unknown sizes). Received: output_shape={output_shape!r}. Fix: e.g. "
                "output_shape=(None, 10)."
            )
        self.output_shape_ = None if output_shape is None else tuple(output_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.output_shape_ is not None:
            return self.output_shape_
        return super().compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        shape = None if self.output_shape_ is None else list(self.output_shape_)
        return {**super().get_config(), "output_shape": shape}
