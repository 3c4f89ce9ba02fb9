"""Peak RSS of one training run, in its own process (``resource.getrusage`` ru_maxrss).

    python benchmarks/_rss.py duallearn|native torch|tensorflow WORKLOAD [--quick] [--epochs N]

Prints one JSON line: ``{"system", "engine", "workload", "peak_rss_mb"}``. Both systems
import the same framework and train the same data, so the difference is duallearn's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

ap = argparse.ArgumentParser()
ap.add_argument("system", choices=["duallearn", "native"])
ap.add_argument("engine", choices=["torch", "tensorflow"])
ap.add_argument("workload")
ap.add_argument("--quick", action="store_true")
ap.add_argument("--scale", type=float, default=1.0)
ap.add_argument("--epochs", type=int, default=2)
args = ap.parse_args()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workloads as wl  # noqa: E402

if args.engine == "torch":
    wl.set_threads_torch()
else:
    wl.set_threads_tf()
d = wl.Data(args.workload, args.quick, args.scale)
if args.system == "duallearn":
    epoch, _ = wl.build_duallearn(d, args.engine)
elif args.engine == "torch":
    epoch, _ = wl.build_torch(d)
else:
    epoch, _ = wl.build_tf(d)
for _ in range(args.epochs):
    epoch()
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(
    json.dumps(
        {
            "system": args.system,
            "engine": args.engine,
            "workload": args.workload,
            "peak_rss_mb": round(peak_kb / 1024, 1),
        }
    )
)
