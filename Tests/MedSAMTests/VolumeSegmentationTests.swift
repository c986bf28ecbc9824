import ImageEncoder
import Imaging
import MedSAM
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest

/// LiteMedSAM's 3-D slice propagation with the real checkpoint on a real MRI volume (MNI152 crop),
/// against the PyTorch reference pipeline.
final class VolumeSegmentationTests: XCTestCase {
    /// The golden's MNI152 volume (8-bit) and its 3-D boxes (also used by the reduced-precision volume test).
    static func mni152Case(_ g: Golden) throws -> (Volume, [Box3D]) {
        let imgs = try g.input("imgs")
        let (d, h, w) = (imgs.shape[0], imgs.shape[1], imgs.shape[2])
        let volume = try Volume(uint8: imgs.scalars.map { UInt8($0) }, width: w, height: h, depth: d)
        let b = try g.input("boxes").scalars
        let boxes = (0..<(b.count / 6)).map { i in
            Box3D(x0: Int(b[6 * i]), y0: Int(b[6 * i + 1]), z0: Int(b[6 * i + 2]),
                  x1: Int(b[6 * i + 3]), y1: Int(b[6 * i + 4]), z1: Int(b[6 * i + 5]))
        }
        return (volume, boxes)
    }

    func testSlicePropagationMatchesPyTorch() throws {
        let g = try Golden("lite/mni152_3d")
        let segmenter = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        let (volume, boxes) = try VolumeSegmentationTests.mni152Case(g)
        let labels = try segmenter.segmentVolume(volume, boxes: boxes)
        let expected = try g.output("segs").scalars.map { UInt16($0) }
        XCTAssertEqual(labels.count, expected.count)
        for label in 1...UInt16(boxes.count) {
            var inter = 0, a = 0, e = 0
            for i in 0..<labels.count {
                let x = labels[i] == label, y = expected[i] == label
                if x { a += 1 }; if y { e += 1 }; if x && y { inter += 1 }
            }
            let dice = a + e == 0 ? 1 : 2 * Double(inter) / Double(a + e)
            XCTAssertGreaterThanOrEqual(dice, 0.995, "label \(label): Swift vs PyTorch Dice \(dice)")
        }
    }

    func testVolumeInputErrors() throws {
        let segmenter = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        let volume = try Volume(uint8: [UInt8](repeating: 7, count: 2 * 8 * 8), width: 8, height: 8, depth: 2)
        XCTAssertThrowsError(try segmenter.segmentVolume(volume, boxes: [Box3D(x0: 0, y0: 0, z0: 0, x1: 4, y1: 4, z1: 2)])) {
            XCTAssertEqual($0 as? VolumeError, .boxOutsideVolume(Box3D(x0: 0, y0: 0, z0: 0, x1: 4, y1: 4, z1: 2), depth: 2, height: 8, width: 8))
        }
        XCTAssertThrowsError(try segmenter.segmentVolume(volume, boxes: [Box3D(x0: 4, y0: 0, z0: 0, x1: 2, y1: 4, z1: 1)])) {
            XCTAssertEqual($0 as? VolumeError, .invertedBox(Box3D(x0: 4, y0: 0, z0: 0, x1: 2, y1: 4, z1: 1)))
        }
        XCTAssertThrowsError(try Volume(uint8: [], width: 8, height: 8, depth: 0))
        // Overflowing dimensions are a typed error, not a trap.
        XCTAssertThrowsError(try Volume(uint8: [1], width: 4, height: 4, depth: Int.max / 2)) {
            XCTAssertEqual($0 as? PreprocessError, .wrongPixelCount(expected: Int.max, got: 1))
        }
    }
}
