import Checkpoint
import ImageEncoder
import NN
import Tensor
import TestSupport
import XCTest

/// SAM/MedSAM ViT pieces against PyTorch goldens.
final class ImageEncoderViTTests: XCTestCase {
    func testWindowPartitionAndUnpartitionWithPadding() throws {
        let g = try Golden("layers/window_partition")
        let ws = g.int("window_size")
        let (windows, padded) = windowPartition(try g.input("x"), windowSize: ws)
        XCTAssertEqual([padded.0, padded.1], g.ints("pad_hw"))
        try g.check(windows, against: "windows", tolerance: 0)
        let hw = g.ints("hw")
        let back = windowUnpartition(try g.input("windows_in"), windowSize: ws, paddedSize: padded, size: (hw[0], hw[1]))
        try g.check(back, against: "unpartitioned", tolerance: 0)
    }

    func testAttentionWithRelativePositions() throws {
        // windowed (14×14), global non-square (9×11), and both rel-pos interpolation branches.
        for name in ["vit_attention_windowed", "vit_attention_global", "vit_attention_relpos_interp_down", "vit_attention_relpos_interp_up"] {
            let g = try Golden("layers/" + name)
            let size = g.ints("input_size")
            let attn = try ViTAttention(g.scope, dim: g.int("dim"), numHeads: g.int("num_heads"), qkvBias: g.bool("qkv_bias"),
                                        useRelativePosition: g.bool("use_rel_pos"), inputSize: (size[0], size[1]))
            try g.check(attn(try g.input("x")), against: "y")
        }
    }

    func testBlocksWindowedWithPaddingAndGlobal() throws {
        for name in ["vit_block_windowed", "vit_block_global"] {
            let g = try Golden("layers/" + name)
            let size = g.ints("input_size")
            let dim = g.int("dim")
            let block = try ViTBlock(g.scope, dim: dim, numHeads: g.int("num_heads"), mlpDim: Int(Double(dim) * g.double("mlp_ratio")),
                                     windowSize: g.int("window_size"), inputSize: (size[0], size[1]))
            try g.check(block(try g.input("x")), against: "y")
        }
    }

    func testPatchEmbedAndNeck() throws {
        let g = try Golden("layers/vit_patch_embed")
        let k = g.ints("kernel_size")[0]
        let conv = try Conv2d(g.scope["proj"], inChannels: g.int("in_chans"), outChannels: g.int("embed_dim"),
                              kernelSize: k, stride: g.ints("stride")[0])
        try g.check(conv(try g.input("x")).permuted([0, 2, 3, 1]), against: "y")

        let n = try Golden("layers/vit_neck")
        let neck = try EncoderNeck(n.scope, inChannels: n.int("in_chans"), outChannels: n.int("out_chans"))
        try n.check(neck(try n.input("x")), against: "y")
    }

    /// The channels-last neck (gathered 3×3 neighbourhoods in blocks of pixels, own GEMM) against the NCHW
    /// convolutions and LayerNorm2d of the same weights, on two images whose rows the blocks split unevenly
    /// (width 120: blocks of 4 rows, one spanning both images), with the borders' zero padding.
    func testNeckChannelsLastMatchesTheNCHWConvolutions() throws {
        let scope = WeightLoader(DeterministicWeights()).scope("neck")
        let (cin, cout, h, w) = (12, 8, 5, 120)
        let neck = try EncoderNeck(scope, inChannels: cin, outChannels: cout)
        let w1 = try scope[0].tensor("weight", shape: [cout, cin, 1, 1]), w2 = try scope[2].tensor("weight", shape: [cout, cout, 3, 3])
        let (g1, b1) = (try scope[1].tensor("weight", shape: [cout]), try scope[1].tensor("bias", shape: [cout]))
        let (g2, b2) = (try scope[3].tensor("weight", shape: [cout]), try scope[3].tensor("bias", shape: [cout]))
        var rng = SystemRandomNumberGenerator()
        let x = Tensor(shape: [2, cin, h, w], scalars: (0..<(2 * cin * h * w)).map { _ in Float.random(in: -1...1, using: &rng) })
        let want = x.conv2d(weight: w1).layerNorm2d(weight: g1, bias: b1, eps: 1e-6)
            .conv2d(weight: w2, padding: (1, 1)).layerNorm2d(weight: g2, bias: b2, eps: 1e-6)
        let got = neck(x)
        XCTAssertEqual(got.shape, [2, cout, h, w])
        let (a, b) = (got.scalars, want.scalars)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-4, "channels-last neck vs NCHW convolutions")
        XCTAssertGreaterThan(b.map(abs).max() ?? 0, 0.5, "the reference is not trivially small")
    }

    /// Full-width ViT-B blocks (768 dims, 12 heads) with generated weights, windowed and global.
    func testViTBBlocksFullWidth() throws {
        for name in ["vitb_block_windowed", "vitb_block_global"] {
            let g = try Golden("models/" + name)
            let windowSize = g.int("window_size")
            let block = try ViTBlock(g.scope, dim: 768, numHeads: 12, mlpDim: 3072, windowSize: windowSize,
                                     inputSize: windowSize > 0 ? (14, 14) : (64, 64))
            try g.check(block(try g.input("x")), against: "y")
        }
    }

    /// A narrow ViT at the full 1024 input: patch embed, abs pos, 64→70 window padding, 25 windows,
    /// global blocks and the neck.
    func testReducedViTAt1024() throws {
        let g = try Golden("models/reduced_vit_1024")
        let cfg = ImageEncoderViT.Configuration(embedDim: g.int("embed_dim"), depth: g.int("depth"), numHeads: g.int("num_heads"),
                                                outChannels: g.int("out_chans"), windowSize: g.int("window_size"),
                                                globalAttentionIndexes: g.ints("global_attn_indexes"))
        let encoder = try ImageEncoderViT(g.scope, configuration: cfg)
        try g.check(encoder(try g.input("image")), against: "y")
    }

    /// The full MedSAM ViT-B encoder (89.7 M generated weights, real key names and shapes) on a
    /// 1024² input against PyTorch: every block, 25-window padding, global attention in chunks, neck.
    func testFullViTBEncoderAgainstPyTorch() throws {
        let g = try Golden("models/vitb_image_encoder")
        let loader = WeightLoader(DeterministicWeights())
        let encoder = try ImageEncoderViT(loader.scope("image_encoder"), configuration: .vitB)
        let out = encoder(try g.input("image"))
        XCTAssertEqual(out.shape, [1, 256, 64, 64])
        XCTAssertTrue(out.isFinite)
        try g.check(out, against: "y")
    }
}
