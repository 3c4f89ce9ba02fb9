"""Which keys each JSON object of a ``.dlm`` file may hold (docs/format.md, "Strict JSON").

A key this reader does not know is refused, not ignored: it would mean the file was written by
a newer duallearn (whose meaning this one would silently drop) or was edited. Layer, optimizer,
loss and metric *arguments* are checked by the classes themselves (an unknown argument is an
error there); this module checks the structure around them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import SerializationError

MANIFEST_KEYS = frozenset({"format", "format_version", "members"})
MANIFEST_ENTRY_KEYS = frozenset({"sha256", "size"})
CONFIG_KEYS = frozenset({"format_version", "model", "compile"})
OBJECT_KEYS = frozenset({"class_name", "config"})  # every serialized object
COMPILE_KEYS = frozenset(
    {
        "optimizer",
        "loss",
        "loss_weights",
        "metrics",
        "weighted_metrics",
        "metrics_raw",
        "weighted_metrics_raw",
        "steps_per_execution",  # written only when not 1
    }
)
SEQUENTIAL_KEYS = frozenset({"name", "layers", "input"})
SEQUENTIAL_INPUT_KEYS = frozenset({"shape", "dtype"})
FUNCTIONAL_KEYS = frozenset(
    {"name", "layers", "inputs", "nodes", "outputs", "output_names", "dict_inputs", "dict_outputs"}
)
FUNCTIONAL_INPUT_KEYS = frozenset({"name", "shape", "dtype"})
NODE_KEYS = frozenset({"layer", "inputs", "list_input", "call_args"})
METADATA_KEYS = {
    1: frozenset({"duallearn_version", "backend", "framework_versions", "dtype"}),
    2: frozenset(
        {
            "format_version",
            "duallearn_version",
            "backend",
            "framework_versions",
            "dtype",
            "dtype_policy",
        }
    ),
}
DTYPE_POLICY_KEYS = frozenset({"name", "compute_dtype", "variable_dtype"})


def check_keys(obj: Any, allowed: Iterable[str], label: str, where: str) -> None:
    """Refuse ``obj`` (a JSON object) if it holds a key outside ``allowed``."""
    if not isinstance(obj, dict):
        return  # the type is checked where the value is used
    allowed = frozenset(allowed)
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise SerializationError(
            f"{label}: unknown key {unknown[0]!r} in {where}"
            + (f" (and {len(unknown) - 1} more: {unknown[1:4]})" if len(unknown) > 1 else "")
            + f". Expected only: {', '.join(sorted(allowed))}. duallearn files are strict JSON: "
            "the file was written by a newer duallearn or edited. Fix: load it with the "
            "duallearn that wrote it (and upgrade this one), or re-save it there."
        )


def check_manifest(manifest: dict[str, Any], label: str) -> None:
    check_keys(manifest, MANIFEST_KEYS, label, "manifest.json")
    members = manifest.get("members")
    if isinstance(members, dict):
        for name, entry in members.items():
            check_keys(entry, MANIFEST_ENTRY_KEYS, label, f"manifest.json's entry {name!r}")


def check_metadata(metadata: dict[str, Any], version: int, label: str) -> None:
    check_keys(metadata, METADATA_KEYS.get(version, METADATA_KEYS[2]), label, "metadata.json")
    policy = metadata.get("dtype_policy")
    check_keys(policy, DTYPE_POLICY_KEYS, label, "metadata.json's dtype_policy")


def check_config(config: dict[str, Any], label: str) -> None:
    """config.json: the top level, the model's structure, the compile config, and every
    serialized ``{class_name, config}`` object anywhere in it."""
    where = "config.json"
    check_keys(config, CONFIG_KEYS, label, where)
    _check_objects(config, label, where)
    model = config.get("model")
    if isinstance(model, dict) and model.get("class_name") in ("Sequential", "Model", "Functional"):
        _check_model(model, label, f"{where} model")
    compile_cfg = config.get("compile")
    check_keys(compile_cfg, COMPILE_KEYS, label, f"{where} compile")


def _check_model(model: dict[str, Any], label: str, where: str) -> None:
    inner = model.get("config")
    if not isinstance(inner, dict):
        return
    if model.get("class_name") == "Sequential":
        check_keys(inner, SEQUENTIAL_KEYS, label, f"{where} config")
        check_keys(inner.get("input"), SEQUENTIAL_INPUT_KEYS, label, f"{where} input")
        return
    check_keys(inner, FUNCTIONAL_KEYS, label, f"{where} config")
    for i, entry in enumerate(_items(inner.get("inputs"))):
        check_keys(entry, FUNCTIONAL_INPUT_KEYS, label, f"{where} inputs[{i}]")
    for i, node in enumerate(_items(inner.get("nodes"))):
        check_keys(node, NODE_KEYS, label, f"{where} nodes[{i}]")


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_objects(value: Any, label: str, where: str) -> None:
    """Every JSON object carrying ``class_name`` and ``config`` (a layer, optimizer, loss,
    metric, initializer, regularizer, constraint, schedule...) holds nothing else."""
    stack = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, dict):
            if "class_name" in v and "config" in v:
                check_keys(v, OBJECT_KEYS, label, f"the {v.get('class_name')!r} object in {at}")
            stack.extend((x, at) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, at) for x in v)
