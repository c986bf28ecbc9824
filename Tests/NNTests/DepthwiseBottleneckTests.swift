import NN
import Tensor
import XCTest

/// ``DepthwiseBottleneck`` (the row-by-row, channels-last pointwise → depthwise → pointwise stack) against the three
/// convolutions written out on NCHW tensors with the package's reference-layout ops: batches of two (a ring
/// reset between images), odd sizes, stride 1 with the residual and stride 2 without, bands split over threads.
final class DepthwiseBottleneckTests: XCTestCase {
    func testRowByRowEqualsTheConvolutionsWrittenOut() {
        var rng = SystemRandomNumberGenerator()
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        for (cin, hidden, cout, stride, h, w, residual) in [(5, 12, 5, 1, 9, 7, true), (6, 20, 11, 2, 9, 8, false),
                                                             (3, 17, 3, 1, 1, 4, true), (4, 8, 6, 2, 2, 1, false)] {
            let expand = Conv2d(weight: random([hidden, cin, 1, 1]), bias: random([hidden]))
            let depthwise = Conv2d(weight: random([hidden, 1, 3, 3]), bias: random([hidden]), stride: stride, padding: 1, groups: hidden)
            let project = Conv2d(weight: random([cout, hidden, 1, 1]), bias: random([cout]))
            let block = DepthwiseBottleneck(expand: expand, depthwise: depthwise, project: project, activation: .gelu)
            let x = random([2, cin, h, w])
            let hiddenMap = depthwise(expand(x, activation: .gelu), activation: .gelu)
            let expected = residual ? project(hiddenMap, adding: x, activation: .gelu) : project(hiddenMap)
            let y = block(x.permuted([0, 2, 3, 1]), addingInput: residual, outputActivation: residual ? .gelu : .none)
            XCTAssertEqual(y.shape, [2, block.outputSize(h), block.outputSize(w), cout])
            let got = y.permuted([0, 3, 1, 2])
            XCTAssertEqual(got.shape, expected.shape)
            let (a, e) = (got.scalars, expected.scalars)
            let worst = zip(a, e).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThan(worst, 2e-5, "cin \(cin) hidden \(hidden) stride \(stride) \(h)×\(w): max |Δ| \(worst)")
        }
    }
}
