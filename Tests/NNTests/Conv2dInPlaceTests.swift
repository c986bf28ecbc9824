import NN
import Tensor
import XCTest

/// `Conv2d.callAsFunction(inPlace:)`: in place exactly for stride-1 "same" depthwise convolutions, the ordinary
/// forward otherwise; the result equals `callAsFunction(_:)` bit for bit either way.
final class Conv2dInPlaceTests: XCTestCase {
    func testInPlaceForwardEqualsForward() {
        var rng = SystemRandomNumberGenerator()
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        let c = 6
        let cases: [(Conv2d, Bool)] = [
            (Conv2d(weight: random([c, 1, 3, 3]), bias: random([c]), padding: 1, groups: c), true),             // MBConv's
            (Conv2d(weight: random([c, 1, 3, 3]), bias: random([c]), stride: 2, padding: 1, groups: c), false), // strided
            (Conv2d(weight: random([c, 1, 3, 3]), bias: nil, padding: 0, groups: c), false),                   // shrinks
            (Conv2d(weight: random([c, c, 1, 1]), bias: random([c])), false),                                   // a GEMM
        ]
        for (conv, inPlace) in cases {
            XCTAssertEqual(conv.worksInPlace, inPlace, "\(conv.weight.shape) stride \(conv.stride) padding \(conv.padding)")
            let x = random([1, c, 12, 10])
            for act in [FusedActivation.none, .gelu] {
                let expected = conv(x, activation: act)
                var y = x
                conv(inPlace: &y, activation: act)
                XCTAssertEqual(y.shape, expected.shape)
                XCTAssertEqual(y.scalars, expected.scalars, "\(conv.weight.shape) \(act)")
            }
        }
    }
}
