#!/usr/bin/env python3
"""Prints the median (ns) of every criterion benchmark under target/criterion/GROUP..."""
import json, pathlib, sys

root = pathlib.Path("target/criterion")
for group in sys.argv[1:] or [p.name for p in root.iterdir() if p.is_dir()]:
    for estimates in sorted(root.glob(f"{group}/**/new/estimates.json")):
        name = estimates.parent.parent.relative_to(root)
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        print(f"{name}\t{median:.1f} ns")
