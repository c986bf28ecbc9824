"""Golden fixtures for Sources/Tensor/Resize, Sources/Preprocess and Sources/Metrics.

Writes small .npy files + manifest.json into Fixtures/preprocess/.  References:
  * torch.nn.functional.interpolate (bilinear / linear, align_corners=False)
  * cv2.resize(..., INTER_AREA)
  * skimage.transform.resize(order=3, preserve_range=True, anti_aliasing=True)  (MedSAM_Inference.py call)
  * MedSAM pre_CT_MR.py intensity rules (CT window, MR percentile)
  * CVPR24_LiteMedSAM_infer.py pre/post-processing, get_bbox256, resize_box_to_256
  * evaluation/compute_metrics.py + SurfaceDice.py (re-implemented faithfully below; np.Inf -> np.inf),
    cross-checked against DeepMind's `surface-distance` package when installed.
Only images from permissively licensed sources are used (nilearn MNI152, stardist DSB2018, dicompyler CT).
"""
import json
import os

import cv2
import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F
from skimage import io as skio
from skimage import transform

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "preprocess")
SHARED = "/work/shared/data/cases"
DATA = os.path.join(os.path.dirname(HERE), "data")

MAN = {}


_SAVED = {}


def save(name, arr):
    """Writes <name>.npy unless an identical array was saved already (then returns that file)."""
    arr = np.ascontiguousarray(arr)
    key = (arr.dtype.str, arr.shape, arr.tobytes())
    if key in _SAVED:
        return _SAVED[key]
    np.save(os.path.join(OUT, name + ".npy"), arr)
    _SAVED[key] = name + ".npy"
    return name + ".npy"


def load_case(folder, stem):
    for root in (SHARED, DATA):
        p = os.path.join(root, folder, stem + "_image.npy")
        if os.path.exists(p):
            img = np.load(p)
            mask = skio.imread(os.path.join(root, folder, stem + "_mask.png"))
            return img, mask
    raise FileNotFoundError(folder + "/" + stem)


# ---------------------------------------------------------------------- reference intensity rules
def ct_window(raw, level, width):
    lower_bound = level - width / 2
    upper_bound = level + width / 2
    x = np.clip(raw, lower_bound, upper_bound)
    x = (x - np.min(x)) / (np.max(x) - np.min(x)) * 255.0
    return np.uint8(x)


def mr_percentile(raw):
    lower_bound, upper_bound = np.percentile(raw[raw > 0], 0.5), np.percentile(raw[raw > 0], 99.5)
    x = np.clip(raw, lower_bound, upper_bound)
    x = (x - np.min(x)) / (np.max(x) - np.min(x)) * 255.0
    x[raw == 0] = 0
    return np.uint8(x), float(lower_bound), float(upper_bound)


# ---------------------------------------------------------------------- LiteMedSAM reference
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


# ---------------------------------------------------------------------- metrics reference
def _normals_table():
    from surface_distance import lookup_tables
    return lookup_tables._NEIGHBOUR_CODE_TO_NORMALS


def compute_surface_distances(mask_gt, mask_pred, spacing_mm):
    normals_table = _normals_table()
    area_table = np.zeros([256])
    for code in range(256):
        normals = np.array(normals_table[code])
        sum_area = 0
        for ni in range(normals.shape[0]):
            n = np.zeros([3])
            n[0] = normals[ni, 0] * spacing_mm[1] * spacing_mm[2]
            n[1] = normals[ni, 1] * spacing_mm[0] * spacing_mm[2]
            n[2] = normals[ni, 2] * spacing_mm[0] * spacing_mm[1]
            sum_area += np.linalg.norm(n)
        area_table[code] = sum_area
    mask_all = mask_gt | mask_pred
    bbox_min = np.zeros(3, np.int64)
    bbox_max = np.zeros(3, np.int64)
    proj_0 = np.max(np.max(mask_all, axis=2), axis=1)
    idx0 = np.nonzero(proj_0)[0]
    if len(idx0) == 0:
        return {"distances_gt_to_pred": np.array([]), "distances_pred_to_gt": np.array([]),
                "surfel_areas_gt": np.array([]), "surfel_areas_pred": np.array([])}
    bbox_min[0], bbox_max[0] = np.min(idx0), np.max(idx0)
    idx1 = np.nonzero(np.max(np.max(mask_all, axis=2), axis=0))[0]
    bbox_min[1], bbox_max[1] = np.min(idx1), np.max(idx1)
    idx2 = np.nonzero(np.max(np.max(mask_all, axis=1), axis=0))[0]
    bbox_min[2], bbox_max[2] = np.min(idx2), np.max(idx2)
    cg = np.zeros((bbox_max - bbox_min) + 2, np.uint8)
    cp = np.zeros((bbox_max - bbox_min) + 2, np.uint8)
    sl = tuple(slice(bbox_min[i], bbox_max[i] + 1) for i in range(3))
    cg[0:-1, 0:-1, 0:-1] = mask_gt[sl]
    cp[0:-1, 0:-1, 0:-1] = mask_pred[sl]
    kernel = np.array([[[128, 64], [32, 16]], [[8, 4], [2, 1]]])
    code_gt = scipy.ndimage.correlate(cg.astype(np.uint8), kernel, mode="constant", cval=0)
    code_pred = scipy.ndimage.correlate(cp.astype(np.uint8), kernel, mode="constant", cval=0)
    borders_gt = (code_gt != 0) & (code_gt != 255)
    borders_pred = (code_pred != 0) & (code_pred != 255)
    if borders_gt.any():
        dist_gt = scipy.ndimage.distance_transform_edt(~borders_gt, sampling=spacing_mm)
    else:
        dist_gt = np.inf * np.ones(borders_gt.shape)
    if borders_pred.any():
        dist_pred = scipy.ndimage.distance_transform_edt(~borders_pred, sampling=spacing_mm)
    else:
        dist_pred = np.inf * np.ones(borders_pred.shape)
    return {"distances_gt_to_pred": dist_pred[borders_gt], "distances_pred_to_gt": dist_gt[borders_pred],
            "surfel_areas_gt": area_table[code_gt][borders_gt],
            "surfel_areas_pred": area_table[code_pred][borders_pred]}


def surface_dice(sd, tol):
    og = np.sum(sd["surfel_areas_gt"][sd["distances_gt_to_pred"] <= tol])
    op = np.sum(sd["surfel_areas_pred"][sd["distances_pred_to_gt"] <= tol])
    return (og + op) / (np.sum(sd["surfel_areas_gt"]) + np.sum(sd["surfel_areas_pred"]) + 1e-12)


def dice(g, s):
    vs = g.sum() + s.sum()
    if vs == 0:
        return np.nan
    return 2 * (g & s).sum() / vs


def case_metrics(gts, segs, spacing, tol=2.0):
    """compute_metrics.py: returns (dsc, nsd, per-label dsc, per-label nsd)."""
    dscs = [dice(gts == i, segs == i) for i in range(1, gts.max() + 1)]
    dsc = np.mean(dscs)
    nsds = []
    if dsc > 0.2:
        if gts.ndim == 2:
            g3, s3, sp = np.expand_dims(gts, -1), np.expand_dims(segs, -1), [1.0, 1.0, 1.0]
        else:
            g3, s3, sp = gts, segs, spacing
        for i in range(1, gts.max() + 1):
            nsds.append(surface_dice(compute_surface_distances(g3 == i, s3 == i, sp), tol))
        nsd = np.mean(nsds)
    else:
        nsd = 0.0
    return float(dsc), float(nsd), [float(x) for x in dscs], [float(x) for x in nsds]


# ---------------------------------------------------------------------- exporters
def export_bilinear():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 1, 256, 256)).astype(np.float32) * 4
    t = torch.from_numpy(x)
    e = {"input": save("bilinear_in", x)}
    for (h, w) in [(217, 181), (512, 512), (64, 96)]:
        y = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False).numpy()
        if h * w > 100000:  # keep files small: every 3rd row/column
            y = y[:, :, ::3, ::3]
        e[f"out_{h}x{w}"] = save(f"bilinear_out_{h}x{w}", y)
    small = rng.standard_normal((1, 2, 7, 5)).astype(np.float32)
    e["small_in"] = save("bilinear_small_in", small)
    e["small_out_3x2"] = save("bilinear_small_out_3x2",
                              F.interpolate(torch.from_numpy(small), size=(3, 2), mode="bilinear",
                                            align_corners=False).numpy())
    e["small_out_11x13"] = save("bilinear_small_out_11x13",
                                F.interpolate(torch.from_numpy(small), size=(11, 13), mode="bilinear",
                                              align_corners=False).numpy())
    rel = rng.standard_normal((27, 64)).astype(np.float32)
    r = F.interpolate(torch.from_numpy(rel).reshape(1, 27, -1).permute(0, 2, 1), size=127,
                      mode="linear").reshape(-1, 127).permute(1, 0).numpy()
    e["rel_in"] = save("linear1d_in", rel)
    e["rel_out_127"] = save("linear1d_out_127", r)
    MAN["bilinear"] = e


def export_area(mni_u8, ct_u8):
    cases = []
    rng = np.random.default_rng(2)

    def add(name, img, tw, th):
        out = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
        cases.append({"name": name, "input": save(f"area_{name}_in", img), "output": save(f"area_{name}_out", out),
                      "toWidth": tw, "toHeight": th})

    mni3 = np.repeat(mni_u8[:, :, None], 3, axis=-1)
    h, w = mni3.shape[:2]
    s = 256 / max(h, w)
    add("mni_lite", mni3, int(w * s + 0.5), int(h * s + 0.5))
    add("ct_512_to_256_gray", ct_u8, 256, 256)
    add("crop_up_100x37", np.ascontiguousarray(mni3[60:97, 40:140]), 100 * 2 + 13, 37 * 3 + 1)
    add("up_37x100_gray", np.ascontiguousarray(mni_u8[60:160, 40:77]), 100, 256)
    for (hh, ww, cn, th, tw) in [(30, 46, 1, 15, 23), (30, 46, 3, 15, 23), (70, 100, 3, 35, 50), (60, 90, 1, 20, 30),
                                 (61, 97, 3, 25, 40), (61, 97, 1, 25, 40), (20, 50, 3, 45, 30), (50, 20, 1, 30, 45),
                                 (17, 19, 4, 8, 9), (256, 240, 3, 128, 120)]:
        img = rng.integers(0, 256, size=(hh, ww, cn) if cn > 1 else (hh, ww), dtype=np.uint8)
        add(f"rand_{hh}x{ww}x{cn}_to_{th}x{tw}", img, tw, th)
    fimg = rng.random((31, 47, 3)).astype(np.float32) * 255
    fcases = []
    for (th, tw) in [(13, 20), (62, 94), (15, 24), (40, 30)]:
        out = cv2.resize(fimg, (tw, th), interpolation=cv2.INTER_AREA)
        fcases.append({"toWidth": tw, "toHeight": th, "output": save(f"areaf_out_{th}x{tw}", out)})
    MAN["area"] = {"cases": cases, "float_input": save("areaf_in", fimg), "float_cases": fcases}


def sk_resize(img, shape):
    return transform.resize(img, shape, order=3, preserve_range=True, anti_aliasing=True)


def export_cubic(mni_u8, ct_u8):
    e = {}
    out = sk_resize(mni_u8, (1024, 1024))
    e["mni_in"] = save("cubic_mni_in", mni_u8)
    e["mni_1024_u8"] = save("cubic_mni_1024_u8", out.astype(np.uint8))
    e["mni_1024_sub"] = save("cubic_mni_1024_sub", out[::11, ::11])
    ct = ct_u8
    out = sk_resize(ct, (1024, 1024))
    e["ct_in"] = save("cubic_ct_in", ct)
    e["ct_1024_u8_sub2"] = save("cubic_ct_1024_u8_sub2", out.astype(np.uint8)[::2, ::2])
    e["ct_1024_sub"] = save("cubic_ct_1024_sub", out[::11, ::11])
    rng = np.random.default_rng(3)
    r = (rng.random((300, 200)) * 255).astype(np.float32).astype(np.float64)
    e["rand_in"] = save("cubic_rand_in", r.astype(np.float32))  # exact in float32
    e["rand_128x97"] = save("cubic_rand_128x97", sk_resize(r, (128, 97)))
    r3 = rng.integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    e["rand3_in"] = save("cubic_rand3_in", r3)
    e["rand3_77x55"] = save("cubic_rand3_77x55", sk_resize(r3, (77, 55)))
    e["rand3_23x50"] = save("cubic_rand3_23x50", sk_resize(r3, (23, 50)))
    MAN["cubic"] = e


def export_windowing(ct_raw, star_raw, mni_u8):
    e = {"ct_raw": save("win_ct_raw", ct_raw), "ct": []}
    for name, (lvl, wid) in {"softTissue": (40, 400), "lung": (-600, 1500), "bone": (400, 1800),
                             "brain": (40, 80)}.items():
        e["ct"].append({"preset": name, "level": lvl, "width": wid,
                        "output": save(f"win_ct_{name}", ct_window(ct_raw, lvl, wid)[::(1 if name == "softTissue" else 2), ::(1 if name == "softTissue" else 2)]),
                        "stride": 1 if name == "softTissue" else 2})
    u, lo, hi = mr_percentile(star_raw)
    e["star_raw"] = save("win_star_raw", star_raw)
    e["star"] = {"output": save("win_star_mr", u), "lower": lo, "upper": hi}
    u, lo, hi = mr_percentile(mni_u8)
    e["mni"] = {"output": save("win_mni_mr", u), "lower": lo, "upper": hi}
    MAN["window"] = e
    return ct_window(ct_raw, 40, 400)


def export_lite(mni_u8, mni_mask):
    img_3c = np.repeat(mni_u8[:, :, None], 3, axis=-1)
    H, W = img_3c.shape[:2]
    img_256 = resize_longest_side(img_3c, 256)
    newh, neww = img_256.shape[:2]
    norm = (img_256 - img_256.min()) / np.clip(img_256.max() - img_256.min(), a_min=1e-8, a_max=None)
    padded = pad_image(norm, 256)
    tensor = torch.tensor(padded).float().permute(2, 0, 1).unsqueeze(0).numpy()
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((1, 1, 256, 256)) * 3).astype(np.float32)
    lt = torch.from_numpy(logits)[..., :newh, :neww]
    up = F.interpolate(lt, size=(H, W), mode="bilinear", align_corners=False)
    prob = torch.sigmoid(up).squeeze().numpy()
    mask = (prob > 0.5).astype(np.uint8)
    boxes = [[69, 29, 82, 80], [0, 0, 196, 232], [10, 17, 150, 200], [95, 25, 112, 76]]
    boxes256 = [resize_box_to_256(np.array(b), (H, W)).tolist() for b in boxes]
    # get_bbox256 on resized+padded label masks; label value = idx (quirk)
    bb = []
    for idx in [1, 2, 7, 40]:
        for lab in sorted(set(np.unique(mni_mask).tolist()) - {0}):
            m = ((mni_mask == lab) * idx).astype(np.uint8)
            m256 = resize_longest_side(m)
            if m256.max() > 0:
                box = get_bbox256(pad_image(m256)).tolist()
            else:
                box = None
            bb.append({"label": int(lab), "value": idx, "box": box, "max": int(m256.max())})
    MAN["lite"] = {"H": H, "W": W, "newh": newh, "neww": neww, "tensor": save("lite_mni_tensor_unpadded", tensor[:, :, :newh, :neww]),
                   "logits": save("lite_logits", logits), "prob": save("lite_prob", prob),
                   "mask": save("lite_mask", mask), "boxes": boxes, "boxes256": boxes256,
                   "label_mask": save("lite_label_mask", mni_mask.astype(np.uint16)), "bbox256": bb}


def export_medsam(mni_u8):
    img_3c = np.repeat(mni_u8[:, :, None], 3, axis=-1)
    H, W = img_3c.shape[:2]
    img_1024 = transform.resize(img_3c, (1024, 1024), order=3, preserve_range=True,
                                anti_aliasing=True).astype(np.uint8)
    img_1024n = (img_1024 - img_1024.min()) / np.clip(img_1024.max() - img_1024.min(), a_min=1e-8, a_max=None)
    t = torch.tensor(img_1024n).float().permute(2, 0, 1).unsqueeze(0)
    stats = {"sum": float(t.double().sum()), "min": float(t.min()), "max": float(t.max()),
             "sub": save("medsam_tensor_sub", t.numpy()[:, :, ::9, ::9])}
    boxes = [[69, 29, 82, 80], [10, 17, 150, 200]]
    box1024 = (np.array(boxes) / np.array([W, H, W, H]) * 1024).tolist()
    rng = np.random.default_rng(4)  # same logits as the LiteMedSAM case (file shared)
    logits = (rng.standard_normal((1, 1, 256, 256)) * 3).astype(np.float32)
    p = torch.sigmoid(torch.from_numpy(logits))
    p = F.interpolate(p, size=(H, W), mode="bilinear", align_corners=False).numpy()
    MAN["medsam"] = {"H": H, "W": W, "tensor": stats, "boxes": boxes, "boxes1024": box1024,
                     "logits": save("medsam_logits", logits), "prob": save("medsam_prob", p),
                     "mask": save("medsam_mask", (p > 0.5).astype(np.uint8))}


def export_metrics(mni_mask, star_mask, ct_mask):
    rng = np.random.default_rng(6)
    pairs = []

    def add(name, gt, seg, spacing):
        dsc, nsd, dl, nl = case_metrics(gt, seg, spacing)
        entry = {"name": name, "gt": save(f"metric_{name}_gt", gt), "seg": save(f"metric_{name}_seg", seg),
                 "spacing": spacing, "dsc": dsc, "nsd": nsd, "dsc_labels": dl, "nsd_labels": nl}
        try:  # DeepMind package cross-check (binary masks, label 1 only)
            import surface_distance as sdp
            if gt.ndim == 3 and gt.max() >= 1:
                d = sdp.compute_surface_distances(gt == 1, seg == 1, spacing)
                entry["deepmind_nsd_label1"] = float(sdp.compute_surface_dice_at_tolerance(d, 2.0))
        except Exception as ex:  # noqa: BLE001
            entry["deepmind_error"] = str(ex)
        pairs.append(entry)

    m = mni_mask.astype(np.uint16)
    add("mni_same", m, m.copy(), None)
    add("mni_shift2", m, np.roll(m, (2, -1), axis=(0, 1)), None)
    add("mni_dilate", m, np.where(scipy.ndimage.binary_dilation(m > 0, iterations=2), m.max(), 0).astype(np.uint16)
        if m.max() == 1 else scipy.ndimage.grey_dilation(m, size=(3, 3)), None)
    add("mni_erode", m, scipy.ndimage.grey_erosion(m, size=(5, 5)), None)
    s = np.ascontiguousarray(star_mask[:256, :256]).astype(np.int32)
    s = np.searchsorted(np.unique(s), s).astype(np.int32)  # consecutive labels 0..n
    add("star_shift", s, np.roll(s, (1, 2), axis=(0, 1)).astype(np.uint16), None)
    drop = s.copy(); drop[np.isin(drop, np.arange(1, 126, 3))] = 0  # labels absent from seg
    add("star_drop", s, drop.astype(np.uint16), None)
    c = np.ascontiguousarray((ct_mask[::2, ::2] > 0)).astype(np.uint16)
    noisy = c.copy(); flip = rng.random(c.shape) < 0.02; noisy[flip] = 1 - noisy[flip]
    add("ct_noise", c, noisy, None)
    add("ct_empty_pred", c, np.zeros_like(c), None)
    add("ct_low_dice", c, np.broadcast_to((np.arange(c.shape[1])[None, :] < 20).astype(np.uint16), c.shape).copy(), None)
    # 3-D
    zz, yy, xx = np.mgrid[0:24, 0:40, 0:36]
    ball = lambda cz, cy, cx, r, sp: (((zz - cz) * sp[0]) ** 2 + ((yy - cy) * sp[1]) ** 2 + ((xx - cx) * sp[2]) ** 2) <= r * r
    sp = [2.5, 0.8, 0.9]
    gt = ball(12, 20, 18, 9, sp).astype(np.uint16) + 2 * (ball(6, 8, 8, 4, sp) & ~ball(12, 20, 18, 9, sp))
    seg = ball(12.4, 21, 17, 8.2, sp).astype(np.uint16) + 2 * (ball(6, 9, 9, 4.5, sp) & ~ball(12.4, 21, 17, 8.2, sp))
    add("3d_balls", gt.astype(np.uint16), seg.astype(np.uint16), sp)
    add("3d_balls_iso", gt.astype(np.uint16), seg.astype(np.uint16), [1.0, 1.0, 1.0])
    blob = scipy.ndimage.gaussian_filter(rng.random((16, 30, 28)), 2.0)
    g3 = (blob > np.percentile(blob, 70)).astype(np.int32)
    s3 = (scipy.ndimage.gaussian_filter(blob + 0.02 * rng.random(blob.shape), 1.0) > np.percentile(blob, 72)).astype(np.int32)
    add("3d_blob_aniso", g3, s3, [3.0, 0.7, 0.7])
    add("3d_blob_missing_label", g3 * 2, s3 * 2, [1.5, 1.0, 1.2])
    MAN["metrics"] = pairs


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    mni_u8, mni_mask = load_case("nilearn_mni152", "mni152_axial_k60")
    ct_raw, ct_mask = load_case("dicompyler_ct", "ct0")
    star_raw, star_mask = load_case("stardist_dsb2018", "img2d")
    star_raw = np.ascontiguousarray(star_raw[:, :256])
    export_bilinear()
    ct_u8 = export_windowing(ct_raw, star_raw, mni_u8)
    export_area(mni_u8, ct_u8)
    export_cubic(mni_u8, ct_u8)
    export_lite(mni_u8, mni_mask)
    export_medsam(mni_u8)
    export_metrics(mni_mask, star_mask, ct_mask)
    def nan_to_null(x):  # JSON has no NaN: NaN -> null
        if isinstance(x, float) and x != x:
            return None
        if isinstance(x, dict):
            return {k: nan_to_null(v) for k, v in x.items()}
        if isinstance(x, list):
            return [nan_to_null(v) for v in x]
        return x

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(nan_to_null(MAN), f, indent=1, allow_nan=False)
    total = sum(os.path.getsize(os.path.join(OUT, x)) for x in os.listdir(OUT))
    print(f"preprocess fixtures: {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
