import XCTest
@testable import Tensor

/// The package's check of OpenBLAS's kernel choice (``OpenBLASCore``): on a CPU with AVX2+FMA, the GEMMs never
/// run OpenBLAS's pre-AVX kernels, and the products stay exact to fp32 rounding.
final class OpenBLASCoreTests: XCTestCase {
    func testTheActiveCoreMatchesTheCPU() throws {
        // A BLAS call makes the selection.
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), b = Tensor(shape: [2, 2], scalars: [5, 6, 7, 8])
        XCTAssertEqual(a.matmul(b).scalars, [19, 22, 43, 50])
        let s = OpenBLASCore.selection
        print("OpenBLAS core: detected \(s.detected), active \(s.active) (\(s.reason)); CPU GEMM tier \(cpuGEMMTier())")
        guard !s.detected.isEmpty else { throw XCTSkip("the BLAS is not OpenBLAS: nothing to check") }
        let env = ProcessInfo.processInfo.environment
        if env["OPENBLAS_CORETYPE"] != nil || env["MEDSAM_OPENBLAS_CORE"] == "keep" {
            XCTAssertEqual(s.active, s.detected, "an explicit choice is left alone")
            return
        }
        if cpuGEMMTier() >= 1 {
            XCTAssertFalse(OpenBLASCore.preAVXCores.contains(s.active.lowercased()),
                           "OpenBLAS runs its pre-AVX \(s.active) kernels on a CPU with AVX2+FMA")
        }
        if OpenBLASCore.preAVXCores.contains(s.detected.lowercased()), let wanted = OpenBLASCore.coreForThisCPU() {
            XCTAssertEqual(s.active.lowercased(), wanted.lowercased())
        } else {
            print("NOTE: OpenBLAS chose \(s.detected) itself on this CPU; the correction is not exercised here")
            XCTAssertEqual(s.active, s.detected)
        }
    }

    func testProductsAfterTheSelectionAreExact() {
        OpenBLASCore.ensureSelected()
        let m = 67, n = 129, k = 300
        let a = (0..<(m * k)).map { Float(($0 * 7919) % 97) / 97 - 0.5 }
        let b = (0..<(k * n)).map { Float(($0 * 104729) % 89) / 89 - 0.5 }
        let c = Tensor(shape: [m, k], scalars: a).matmul(Tensor(shape: [k, n], scalars: b)).scalars
        var worst = 0.0
        for i in 0..<m { for j in 0..<n {
            var ref = 0.0, mag = 0.0
            for p in 0..<k { ref += Double(a[i * k + p]) * Double(b[p * n + j]); mag += abs(Double(a[i * k + p]) * Double(b[p * n + j])) }
            worst = max(worst, abs(Double(c[i * n + j]) - ref) / max(mag, 1e-30))
        } }
        XCTAssertLessThan(worst, 1e-6, "relative error against a Double reference")
    }
}
