import NN
import Tensor
import XCTest

/// `Linear(_:adding:)`, the residual connection fused into the layer's product, for every weight storage.
final class LinearResidualTests: XCTestCase {
    func testAddingEqualsTheProductPlusTheResidual() {
        var rng = SystemRandomNumberGenerator()
        func tensor(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        let (rows, k, n) = (101, 70, 37)     // row blocks of the own GEMM with a tail; a partial column panel
        let x = tensor([1, rows, k]), residual = tensor([1, rows, n]), w = tensor([n, k]), b = tensor([n])
        let ownGEMM = KernelVariant.best != .portable
        if !ownGEMM { print("[LinearResidualTests] NOT TESTED: packed fp32 storage — this CPU (or MEDSAM_KERNELS) has no AVX2+FMA") }
        for bias in [b, nil] as [Tensor?] {
            // fp32: row-major (OpenBLAS, residual + bias as its starting C) and packed (residual in the tiles),
            // against a double-precision reference.
            var layers = [("row-major", Linear(weight: w, bias: bias))]
            if ownGEMM { layers.append(("packed", Linear(storage: .fp32Packed(FP32PackedWeights(packing: w)), bias: bias))) }
            for (name, layer) in layers {
                let y = layer(x, adding: residual)
                XCTAssertEqual(y.shape, [1, rows, n])
                for r in 0..<rows {
                    for j in 0..<n {
                        var ref = Double(residual.scalars[r * n + j]) + Double(bias?.scalars[j] ?? 0)
                        for t in 0..<k { ref += Double(x.scalars[r * k + t]) * Double(w.scalars[j * k + t]) }
                        XCTAssertEqual(Double(y.scalars[r * n + j]), ref, accuracy: 2e-5, "\(name) row \(r) column \(j)")
                    }
                }
            }
            // int8 (and bf16 where the CPU has it): the same product as without the residual, plus the residual.
            var reduced = [Linear(weight: w, bias: bias, precision: .int8)]
            if Precision.bf16.isSupported { reduced.append(Linear(weight: w, bias: bias, precision: .bf16)) }
            else { print("[LinearResidualTests] NOT TESTED: bf16 storage — this CPU has no AVX512_BF16") }
            for layer in reduced {
                var expected = layer(x)
                expected.add(residual)
                XCTAssertEqual(layer(x, adding: residual).scalars, expected.scalars)
            }
        }
    }
}
