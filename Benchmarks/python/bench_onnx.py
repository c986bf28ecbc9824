"""ONNX Runtime timings of the two image encoders (exported from the PyTorch reference models), one model
per process. Exports are cached in Benchmarks/.cache/onnx/ (git-ignored).

    python3 bench_onnx.py --model medsam|lite --threads N --repeats R

Stages: encoder (ORT session, intra_op_num_threads = N, inter_op 1, sequential) and, for completeness,
`decoder` and `pipeline` are not exported (the comparison's ONNX rows are encoder-only, as in the issue).
"""
import argparse
import os
import time

import numpy as np

from benchcommon import ROOT, emit, log, timed, torchvision_stub

CACHE = os.path.join(ROOT, "Benchmarks", ".cache", "onnx")


def export(model):
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"{model}_encoder.onnx")
    if os.path.exists(path):
        return path
    import torch
    torchvision_stub()
    if model == "medsam":
        from segment_anything import sam_model_registry
        torch.manual_seed(0)
        net = sam_model_registry["vit_b"](checkpoint=None).eval()
        S = 1024
    else:
        from lite_ref import load_lite
        net = load_lite()
        S = 256
    x = torch.randn(1, 3, S, S)
    t0 = time.time()
    with torch.no_grad():
        torch.onnx.export(net.image_encoder.eval(), (x,), path + ".part", input_names=["image"],
                          output_names=["embedding"], opset_version=17, dynamo=False)
    # Large models keep their weights in external data next to the .onnx: move both.
    for f in os.listdir(CACHE):
        if f.startswith(os.path.basename(path) + ".part") and f != os.path.basename(path) + ".part":
            os.replace(os.path.join(CACHE, f), os.path.join(CACHE, f.replace(".part", "", 1)))
    os.replace(path + ".part", path)
    log(f"[onnx {model}] exported {path} in {time.time() - t0:.1f} s")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["medsam", "lite"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--export-only", action="store_true")
    a = ap.parse_args()
    path = os.path.join(CACHE, f"{a.model}_encoder.onnx")
    if a.export_only or not os.path.exists(path):
        # Export in its own process (run with --export-only first) so this one's peak RSS is ORT's alone.
        export(a.model)
        if a.export_only:
            return
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    S = 1024 if a.model == "medsam" else 256
    from benchcommon import ct_image
    u8 = ct_image()
    # The same model input as the other engines (values in [0, 1]); ORT timing does not depend on values.
    x = np.repeat(np.asarray(u8, np.float32)[None, None] / 255.0, 3, axis=1)
    x = np.ascontiguousarray(np.pad(x, ((0, 0), (0, 0), (0, max(0, S - x.shape[2])), (0, max(0, S - x.shape[3]))))[:, :, :S, :S])
    sess.run(None, {"image": x})  # warm-up
    log(f"[onnx {a.model}] onnxruntime {ort.__version__}, intra_op {a.threads}")
    emit("onnxruntime", a.model, "encoder", a.threads, timed(a.repeats, lambda: sess.run(None, {"image": x})))


if __name__ == "__main__":
    main()
