#!/usr/bin/env python3
"""Counts the public symbols of each module from a symbol-graph folder, and what `import MedSAM` exports.

    swift package dump-symbol-graph --minimum-access-level public
    python3 scripts/public-symbols.py .build/x86_64-unknown-linux-gnu/symbolgraph [Sources/MedSAM]

Per module: public symbols (every declaration in the module's graph, extension graphs included) and how many of
them mention an unsafe pointer type in their declaration. `import MedSAM` = MedSAM plus the modules its sources
re-export with `@_exported import`.
"""
import collections, glob, json, os, re, sys

folder = sys.argv[1]
medsam_sources = sys.argv[2] if len(sys.argv) > 2 else "Sources/MedSAM"
counts = collections.Counter()
unsafe = collections.Counter()
for path in glob.glob(os.path.join(folder, "*.symbols.json")):
    module = os.path.basename(path).split(".")[0].split("@")[0]
    graph = json.load(open(path))
    for s in graph.get("symbols", []):
        if s.get("accessLevel") not in ("public", "open"):
            continue
        counts[module] += 1
        decl = "".join(f.get("spelling", "") for f in s.get("declarationFragments", []))
        if "Unsafe" in decl and "Pointer" in decl:
            unsafe[module] += 1
skip = {"TestSupport", "CKernels", "CBLAS"}
print(f"{'module':<16}{'public symbols':>16}{'unsafe-pointer API':>20}")
for m in sorted(counts):
    if m in skip or m.endswith("Tests"):
        continue
    print(f"{m:<16}{counts[m]:>16}{unsafe[m]:>20}")
exported = set()
for f in glob.glob(os.path.join(medsam_sources, "**", "*.swift"), recursive=True):
    exported |= set(re.findall(r"^@_exported import (\w+)", open(f).read(), re.M))
mods = ["MedSAM"] + sorted(exported)
print(f"import MedSAM = {' + '.join(mods)}: {sum(counts[m] for m in mods)} public symbols, "
      f"{sum(unsafe[m] for m in mods)} with unsafe pointers")
