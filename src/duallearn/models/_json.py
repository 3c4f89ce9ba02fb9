"""A model's architecture as a JSON string: ``model.to_json()`` and ``model_from_json``
(Keras 3's names). The JSON is the model entry of a ``.dlm`` file's config (docs/format.md),
plus the compile config when the model is compiled; weights are not included."""

from __future__ import annotations

import json
from typing import Any

from ..errors import SerializationError
from ._model import Model
from ._sequential import Sequential


def model_to_json(model: Model, **kwargs: Any) -> str:
    """``{"class_name", "config"[, "compile_config"]}`` as JSON; ``kwargs`` go to
    ``json.dumps`` (e.g. ``indent=2``). ``class_name`` is Keras's: ``"Sequential"``,
    ``"Functional"``, or a subclassed model's registered name."""
    from ..saving import _compile_config
    from ..saving._config import registered_name

    if hasattr(type(model), "call"):  # subclassed: its own class, registered
        class_name = registered_name(model)
    else:
        class_name = "Sequential" if isinstance(model, Sequential) else "Functional"
    cfg: dict[str, Any] = {"class_name": class_name, "config": model.get_config()}
    compiled = _compile_config(model)
    if compiled is not None:
        cfg["compile_config"] = compiled
    try:
        return json.dumps(cfg, **kwargs)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"Model {model.name!r}'s config is not JSON: {exc}. Expected: names or "
            "serializable objects in compile(). Fix: pass losses and metrics by name (e.g. "
            "metrics=['mae']), or train or evaluate once before to_json()."
        ) from None


def model_from_json(json_string: str | bytes, custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuild a model from :meth:`Model.to_json`'s string: same architecture, new variables
    (freshly initialised; load weights with ``set_weights`` or ``load_weights``), compiled if
    the JSON has a compile config. ``custom_objects`` names registered-elsewhere classes and
    Lambda functions, as in ``dl.load_model``.

    >>> import duallearn as dl
    >>> model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, name="d")])
    >>> dl.models.model_from_json(model.to_json()).layers[0].name
    'd'
    """
    from ..saving import _restore_compile
    from ..saving._config import model_from_config

    if not isinstance(json_string, (str, bytes, bytearray)):
        raise SerializationError(
            "model_from_json expects a JSON string from model.to_json(). Received: "
            f"{type(json_string).__name__}. Fix: pass the string itself (for a dict, use "
            "json.dumps first)."
        )
    try:
        cfg = json.loads(json_string)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SerializationError(
            f"model_from_json: the string is not valid JSON: {exc}. Expected: the output of "
            "model.to_json(). Fix: pass that string unchanged."
        ) from None
    try:
        model = model_from_config(cfg, custom_objects)
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise SerializationError(
            f"model_from_json: the model config is malformed: {exc!r}. Expected: the output "
            "of model.to_json()."
        ) from None
    compiled = cfg.get("compile_config") if isinstance(cfg, dict) else None
    if compiled:
        _restore_compile(model, compiled, None, "model_from_json", custom_objects=custom_objects)
    return model
