import NN
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// SAM's prompt encoder against PyTorch goldens (boxes, points with the padding point, masks).
final class PromptEncoderTests: XCTestCase {
    func testPositionEmbeddingRandom() throws {
        for name in ["position_embedding_random", "position_embedding_random_scaled"] {
            let g = try Golden("layers/" + name)
            let pe = try PositionEmbeddingRandom(g.scope, numPosFeats: g.int("num_pos_feats"))
            let grid = g.ints("grid_hw")
            try g.check(pe.dense(height: grid[0], width: grid[1]), against: "dense")
            let size = g.ints("coords_image_size_hw")
            let c = try g.input("coords").scalars
            let coords = stride(from: 0, to: c.count, by: 2).map { (c[$0], c[$0 + 1]) }
            try g.check(pe.encode(pixels: coords, imageSize: (size[0], size[1])), against: "with_coords")
        }
    }

    func encoder(_ g: Golden) throws -> PromptEncoder {
        let cfg = PromptEncoder.Configuration(embedDim: g.int("embed_dim"), imageEmbeddingSize: g.ints("image_embedding_size")[0],
                                              inputImageSize: g.ints("input_image_size")[0], maskInChannels: g.int("mask_in_chans"))
        return try PromptEncoder(g.scope, configuration: cfg)
    }

    func prompts(_ g: Golden) throws -> [Prompt] {
        let boxes = try? g.input("boxes")
        let points = try? g.input("points")
        let labels = try? g.input("labels")
        let masks = try? g.input("masks")
        let batch = boxes?.shape[0] ?? points?.shape[0] ?? masks?.shape[0] ?? 1
        return (0..<batch).map { b in
            var p = Prompt()
            if let boxes { p.box = Array(boxes.scalars[(b * 4)..<(b * 4 + 4)]) }
            if let points, let labels {
                let n = points.shape[1]
                let ps = points.scalars, ls = labels.scalars
                p.points = (0..<n).map { i in
                    PointPrompt(x: ps[(b * n + i) * 2], y: ps[(b * n + i) * 2 + 1],
                                label: ls[b * n + i] > 0.5 ? .positive : .negative)
                }
            }
            if let masks {
                let per = masks.count / masks.shape[0]
                p.mask = Tensor(shape: Array(masks.shape.dropFirst()), scalars: masks.scalars[(b * per)..<((b + 1) * per)])
            }
            return p
        }
    }

    func testBoxesPointsAndMasks() throws {
        for name in ["prompt_encoder_box", "prompt_encoder_points", "prompt_encoder_points_box", "prompt_encoder_box_mask"] {
            let g = try Golden("layers/" + name)
            let pe = try encoder(g)
            let outputs = try prompts(g).map { pe($0) }
            try g.check(Tensor.concatenate(outputs.map(\.sparse), axis: 0), against: "sparse")
            try g.check(Tensor.concatenate(outputs.map(\.dense), axis: 0), against: "dense")
            if (try? g.output("dense_pe")) != nil {
                try g.check(pe.densePositionalEncoding(), against: "dense_pe")
            }
        }
    }
}
