"""ONNX Runtime and OpenVINO timings from the same ONNX exports of the PyTorch reference models, one engine ×
model per process. Exports are cached in Benchmarks/.cache/onnx/ (git-ignored).

    python3 bench_onnx.py --model medsam|lite --export-only
    python3 bench_onnx.py --model medsam|lite --engine onnxruntime|openvino-f32|openvino --threads N --repeats R

Graphs: `<model>_encoder.onnx` (image (1, 3, S, S) -> embedding) and `<model>_decoder.onnx` (prompt encoder +
mask decoder for one box: embedding (1, 256, 64, 64), box (1, 4) in the model frame -> low-res logits
(1, 1, 256, 256) and IoU (1, 1), multimask_output=False), opset 17.

Engines (each with N intra-op threads, one stream, latency mode):
* `onnxruntime`: CPUExecutionProvider, sequential, all graph optimisations.
* `openvino-f32`: OpenVINO CPU plugin with `INFERENCE_PRECISION_HINT=f32` (the exact comparison).
* `openvino`: OpenVINO's default precision (bf16 on CPUs with AVX-512 BF16 / AMX, else f32); the precision the
  plugin chose is reported in the row (`precision`). Not fp32 where it says bf16: its own row.
"""
import argparse
import os
import time

import numpy as np

from benchcommon import CT_BOX, ROOT, ct_image, emit, log, timed, torchvision_stub

CACHE = os.path.join(ROOT, "Benchmarks", ".cache", "onnx")


def reference(model):
    import torch
    torchvision_stub()
    if model == "medsam":
        from segment_anything import sam_model_registry
        torch.manual_seed(0)
        return sam_model_registry["vit_b"](checkpoint=None).eval(), 1024
    from lite_ref import load_lite
    return load_lite(), 256


def model_box(model):
    """The CT box in the model's input frame, as each reference pipeline maps it."""
    h, w = ct_image().shape
    if model == "medsam":
        return (CT_BOX / np.array([w, h, w, h]) * 1024).astype(np.float32)[None, :]
    from lite_ref import resize_box_to_256
    return resize_box_to_256(CT_BOX, (h, w)).astype(np.float32)[None, :]


def _export(module, args, path, input_names, output_names):
    import torch
    t0 = time.time()
    with torch.no_grad():
        torch.onnx.export(module.eval(), args, path + ".part", input_names=input_names, output_names=output_names,
                          opset_version=17, dynamo=False)
    # Large models keep their weights in external data next to the .onnx: move both.
    for f in os.listdir(CACHE):
        if f.startswith(os.path.basename(path) + ".part") and f != os.path.basename(path) + ".part":
            os.replace(os.path.join(CACHE, f), os.path.join(CACHE, f.replace(".part", "", 1)))
    os.replace(path + ".part", path)
    log(f"[onnx] exported {path} in {time.time() - t0:.1f} s")


def export(model):
    os.makedirs(CACHE, exist_ok=True)
    enc, dec = (os.path.join(CACHE, f"{model}_{p}.onnx") for p in ("encoder", "decoder"))
    if os.path.exists(enc) and os.path.exists(dec):
        return
    import torch
    net, S = reference(model)
    if not os.path.exists(enc):
        _export(net.image_encoder, (torch.randn(1, 3, S, S),), enc, ["image"], ["embedding"])
    if not os.path.exists(dec):
        class PromptAndMaskDecoder(torch.nn.Module):
            """prompt_encoder(boxes) + mask_decoder(multimask_output=False), as the reference pipelines call them."""

            def __init__(self, pe, md):
                super().__init__()
                self.pe, self.md = pe, md

            def forward(self, embedding, box):
                sparse, dense = self.pe(points=None, boxes=box, masks=None)
                low_res, iou = self.md(image_embeddings=embedding, image_pe=self.pe.get_dense_pe(),
                                       sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                       multimask_output=False)
                return low_res, iou

        emb = torch.randn(1, 256, 64, 64)
        _export(PromptAndMaskDecoder(net.prompt_encoder, net.mask_decoder), (emb, torch.from_numpy(model_box(model))),
                dec, ["embedding", "box"], ["low_res_logits", "iou"])


def model_input(S):
    # The same model input as the other engines (values in [0, 1]); timing does not depend on values.
    u8 = ct_image()
    x = np.repeat(np.asarray(u8, np.float32)[None, None] / 255.0, 3, axis=1)
    return np.ascontiguousarray(np.pad(x, ((0, 0), (0, 0), (0, max(0, S - x.shape[2])), (0, max(0, S - x.shape[3]))))[:, :, :S, :S])


def onnxruntime_runner(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return (lambda feeds: sess.run(None, feeds)[0]), {"version": ort.__version__, "precision": "f32"}


def openvino_runner(path, threads, f32):
    import openvino as ov
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if f32:
        cfg["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(path), "CPU", cfg)
    req = compiled.create_infer_request()

    def run(feeds):
        req.infer(feeds)
        return req.get_output_tensor(0).data

    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    return run, {"version": ov.__version__, "precision": precision.replace("<Type: '", "").replace("'>", "")}


ENGINES = {"onnxruntime": lambda p, t: onnxruntime_runner(p, t),
           "openvino-f32": lambda p, t: openvino_runner(p, t, True),
           "openvino": lambda p, t: openvino_runner(p, t, False)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["medsam", "lite"], required=True)
    ap.add_argument("--engine", choices=sorted(ENGINES), default="onnxruntime")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--export-only", action="store_true")
    a = ap.parse_args()
    enc, dec = (os.path.join(CACHE, f"{a.model}_{p}.onnx") for p in ("encoder", "decoder"))
    if a.export_only or not (os.path.exists(enc) and os.path.exists(dec)):
        # Export in its own process (run with --export-only first) so this one's peak RSS is the engine's alone.
        export(a.model)
        if a.export_only:
            return
    S = 1024 if a.model == "medsam" else 256
    x = model_input(S)
    run_enc, info = ENGINES[a.engine](enc, a.threads)
    embedding = np.ascontiguousarray(run_enc({"image": x}), dtype=np.float32)  # warm-up; the decoder's input
    log(f"[{a.engine} {a.model}] {info}, threads {a.threads}")
    emit(a.engine, a.model, "encoder", a.threads, timed(a.repeats, lambda: run_enc({"image": x})), **info)
    run_dec, _ = ENGINES[a.engine](dec, a.threads)
    feeds = {"embedding": embedding, "box": model_box(a.model)}
    emit(a.engine, a.model, "decoder", a.threads, timed(max(a.repeats, 20), lambda: run_dec(feeds), warmup=3), **info)


if __name__ == "__main__":
    main()
