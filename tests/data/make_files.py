"""Write the checked-in model file of the *current* format version (tests/data/README.md).

    .venv/bin/python tests/data/make_files.py

Files of older versions are never rewritten: they were made by this script when their version
was current, and stay as they are so that ``tests/parity/test_save_load.py`` proves they keep
loading.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch  # noqa: F401  (torch before tensorflow in one process)

import duallearn as dl
from duallearn.saving._container import FORMAT_VERSION

HERE = Path(__file__).resolve().parent


def main() -> int:
    target = HERE / f"format_v{FORMAT_VERSION}_mlp.dlm"
    if target.exists() and "--force" not in sys.argv:
        print(f"{target.name} exists; pass --force to rewrite it")
        return 0
    dl.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    with dl.use_backend("torch"):
        m = dl.Sequential(
            [
                dl.Input((4,)),
                dl.layers.Dense(5, activation="tanh", name="hidden"),
                dl.layers.Dropout(0.25, name="drop"),
                dl.layers.Dense(2, name="out"),
            ],
            name=f"v{FORMAT_VERSION}_mlp",
        )
        m.compile(optimizer="adam", loss="mse", metrics=["mae"])
        m.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
        m.save(str(target))
        np.savez(
            HERE / f"format_v{FORMAT_VERSION}_mlp_expected.npz",
            x=x,
            y=y,
            predictions=m.predict(x, verbose=0),
        )
    os.chmod(target, 0o644)
    print(f"wrote {target.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
