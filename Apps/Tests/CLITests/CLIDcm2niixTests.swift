import Foundation
import MedicalIO
import TestSupport
import XCTest

/// `medsam convert SERIES out.nii` against dcm2niix (Debian `dcm2niix`, a test-time tool, installed by
/// scripts/bootstrap.sh): every voxel of ours, taken to world coordinates by our affine and back into dcm2niix's
/// volume by its affine, lands on a voxel of the same value (geometry and values agree, whatever each tool's
/// storage order).
final class CLIDcm2niixTests: XCTestCase {
    func testSeriesToNIfTIAgreesWithDcm2niix() throws {
        if try SEGCheck.run(["dcm2niix", "-v"]).status != 0 && (try? SEGCheck.run(["which", "dcm2niix"]).status) != 0 {
            try SEGCheck.missing("dcm2niix (Debian package dcm2niix) is needed to check the NIfTI geometry")
        }
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let series = fixtureURL("io/dicom/seg_series")
        let ours = dir.appendingPathComponent("ours.nii")
        let r = try CLI.run(["convert", series.path, ours.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let d = try SEGCheck.run(["dcm2niix", "-o", dir.path, "-f", "theirs", "-z", "n", series.path])
        XCTAssertEqual(d.status, 0, d.err)
        let a = try NIfTIImage.read(ours), b = try NIfTIImage.read(dir.appendingPathComponent("theirs.nii"))
        let va = a.volume, vb = b.volume
        XCTAssertEqual(va.width * va.height * va.depth, vb.width * vb.height * vb.depth)
        let A = a.affine, B = b.affine
        // Inverse of B's 3×3 part (B maps index → mm: world = M·i + t).
        let m = (0..<3).map { r in (0..<3).map { B[r][$0] } }
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        XCTAssertGreaterThan(abs(det), 1e-9)
        func inv(_ r: Int, _ c: Int) -> Double {
            let r1 = (r + 1) % 3, r2 = (r + 2) % 3, c1 = (c + 1) % 3, c2 = (c + 2) % 3
            return (m[c1][r1] * m[c2][r2] - m[c1][r2] * m[c2][r1]) / det
        }
        var checked = 0, worstOffGrid = 0.0
        for z in 0..<va.depth { for y in 0..<va.height { for x in 0..<va.width {
            let i = [Double(x), Double(y), Double(z)]
            let w = (0..<3).map { r in A[r][0] * i[0] + A[r][1] * i[1] + A[r][2] * i[2] + A[r][3] }
            let dw = (0..<3).map { w[$0] - B[$0][3] }
            let j = (0..<3).map { r in inv(r, 0) * dw[0] + inv(r, 1) * dw[1] + inv(r, 2) * dw[2] }
            let k = j.map { $0.rounded() }
            worstOffGrid = max(worstOffGrid, zip(j, k).map { abs($0 - $1) }.max() ?? 0)
            let (jx, jy, jz) = (Int(k[0]), Int(k[1]), Int(k[2]))
            guard (0..<vb.width).contains(jx), (0..<vb.height).contains(jy), (0..<vb.depth).contains(jz) else {
                return XCTFail("voxel (\(x), \(y), \(z)) maps outside dcm2niix's volume: \(j)")
            }
            XCTAssertEqual(va[x, y, z], vb[jx, jy, jz], "value at (\(x), \(y), \(z))")
            checked += 1
            if checked > 64 * 64 * 3 { break }
        } } }
        XCTAssertLessThan(worstOffGrid, 1e-3, "our voxel centres fall on dcm2niix's")
        // The check can fail: the volume is not symmetric, so a row flip (the usual NIfTI mistake) would not match.
        var flippedMismatches = 0
        for z in 0..<va.depth { for y in 0..<va.height { for x in 0..<va.width where va[x, y, z] != va[x, va.height - 1 - y, z] {
            flippedMismatches += 1
        } } }
        XCTAssertGreaterThan(flippedMismatches, 100)
        XCTAssertEqual(checked, va.width * va.height * va.depth)
    }
}
