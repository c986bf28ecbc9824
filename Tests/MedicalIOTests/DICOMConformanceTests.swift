import Foundation
import MedicalIO
import TestSupport
import XCTest

/// Every file with pixel data in pydicom's bundled `test_files` (from the installed pydicom wheel; nothing is
/// committed), decoded by `DICOMImage` and compared value by value with pydicom + the pylibjpeg plugins
/// (`scripts/dicom-conformance.py` writes the reference arrays into the git-ignored `.cache/dicom-conformance`).
///
/// Lossless syntaxes must be identical (values and shape); lossy JPEG (baseline, JPEG-LS near-lossless,
/// JPEG 2000 lossy) may differ by at most ``lossyTolerance`` (libjpeg-turbo vs libjpeg 9 / OpenJPEG IDCT and
/// colour conversion rounding); files pydicom decodes but we refuse must name the reason in a typed error.
/// Prints the table by transfer syntax and photometric interpretation. Fails (never skips) when Python,
/// pydicom or the plugins are missing: `scripts/bootstrap.sh` installs them.
final class DICOMConformanceTests: XCTestCase {
    /// Largest |ours − pydicom| accepted for lossy syntaxes (8-bit samples). Measured: libjpeg-turbo 2.1 vs
    /// pylibjpeg-libjpeg differ by ≤ 2 on 4:4:4 JPEG and by 3 on 4:2:2 (examples_ybr_color.dcm: fancy vs
    /// plain chroma upsampling); JPEG-LS and JPEG 2000 lossy decode identically.
    static let lossyTolerance: Double = 3

    static let cache = repositoryRoot.appendingPathComponent(".cache/dicom-conformance")

    func manifest() throws -> [String: Any] {
        let url = Self.cache.appendingPathComponent("manifest.json")
        if !FileManager.default.fileExists(atPath: url.path) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", repositoryRoot.appendingPathComponent("scripts/dicom-conformance.py").path, Self.cache.path]
            p.currentDirectoryURL = repositoryRoot
            try p.run(); p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw NSError(domain: "conformance", code: Int(p.terminationStatus))
            }
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    }

    func testEveryPydicomTestFileMatchesPydicom() throws {
        let m: [String: Any]
        do { m = try manifest() } catch {
            return XCTFail("DICOM conformance cannot run: `python3 scripts/dicom-conformance.py` failed (needs pydicom, pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg, pylibjpeg-rle, numpy; scripts/bootstrap.sh installs them)")
        }
        guard let files = m["files"] as? [[String: Any]], files.count > 50 else {
            return XCTFail("conformance manifest lists too few files: \(m["files"].map { "\($0)" } ?? "none")")
        }
        struct Row { var files = 0, identical = 0, withinTolerance = 0, refused = 0, bothFail = 0, mismatch = 0, maxDiff = 0.0, notes = [String]() }
        var table = [String: Row]()
        for f in files {
            guard let name = f["file"] as? String, let path = f["path"] as? String, let ts = f["ts"] as? String,
                  let status = f["status"] as? String else { XCTFail("bad manifest entry \(f)"); continue }
            let photometric = f["photometric"] as? String ?? ""
            let lossy = f["lossy"] as? Bool ?? false
            let tsName = DICOMCodec.Syntax(uid: ts)?.name ?? ["1.2.840.10008.1.2": "Implicit VR LE", "1.2.840.10008.1.2.1": "Explicit VR LE",
                                                             "1.2.840.10008.1.2.2": "Explicit VR BE", "1.2.840.10008.1.2.1.99": "Deflated"][ts] ?? ts
            let key = "\(tsName) | \(photometric)"
            var row = table[key] ?? Row()
            row.files += 1
            defer { table[key] = row }
            if ProcessInfo.processInfo.environment["CONFORMANCE_TRACE"] != nil { FileHandle.standardError.write(Data("conformance: \(name)\n".utf8)) }
            let ours: Result<DICOMImage, Error> = Result { try DICOMImage.read(URL(fileURLWithPath: path)) }
            if status != "ok" {
                switch ours {
                case .failure(let e as MedicalIOError): row.bothFail += 1; row.notes.append("\(name): both refuse (\(e))")
                case .failure(let e): XCTFail("\(name): untyped error \(e)")
                case .success: row.bothFail += 1; row.notes.append("\(name): pydicom fails (\(f["error"] ?? "")), we decode")
                }
                continue
            }
            switch ours {
            case .failure(let e as MedicalIOError):
                row.refused += 1; row.notes.append("\(name): refused: \(e)")
                if case .unsupported = e {} else if case .compressedTransferSyntax = e {} else {
                    XCTFail("\(name) (\(tsName), \(photometric)): pydicom decodes it, we fail: \(e)")
                }
                continue
            case .failure(let e): XCTFail("\(name): untyped error \(e)"); continue
            case .success(let d):
                guard let npy = f["npy"] as? String, let shape = f["shape"] as? [Int] else { XCTFail("\(name): no npy"); continue }
                let ref = try NPYArray.read(Self.cache.appendingPathComponent(npy)).doubles()
                var ourShape = [d.rows, d.columns]
                if d.numberOfFrames > 1 { ourShape.insert(d.numberOfFrames, at: 0) }
                if d.samplesPerPixel > 1 { ourShape.append(d.samplesPerPixel) }
                guard ourShape == shape, ref.count == d.pixels.count else {
                    row.mismatch += 1; XCTFail("\(name) (\(tsName), \(photometric)): shape \(ourShape), pydicom \(shape)"); continue
                }
                // Exact comparison in Double: exactValues when Float cannot hold the values (32-bit, fractional rescale).
                let ours = d.exactValues ?? d.pixels.map(Double.init)
                var maxDiff = 0.0, differ = 0
                for i in ref.indices {
                    let a = ours[i], b = ref[i]
                    if a != b { differ += 1; maxDiff = Swift.max(maxDiff, Swift.abs(a - b)) }
                }
                if differ == 0 { row.identical += 1 }
                else if lossy && maxDiff <= Self.lossyTolerance {
                    row.withinTolerance += 1; row.maxDiff = Swift.max(row.maxDiff, maxDiff)
                } else {
                    row.mismatch += 1; row.maxDiff = Swift.max(row.maxDiff, maxDiff)
                    row.notes.append("\(name): \(differ) values differ, max \(maxDiff)")
                    XCTFail("\(name) (\(tsName), \(photometric)): \(differ) of \(ref.count) values differ from pydicom, max |Δ| \(maxDiff)")
                }
            }
        }
        var out = "DICOM conformance vs pydicom \(m["pydicom"] ?? "?") + pylibjpeg (\(files.count) files with pixel data)\n"
        out += "| transfer syntax | photometric | files | identical | lossy ≤\(Int(Self.lossyTolerance)) (max Δ) | refused (typed) | both fail | mismatch |\n|---|---|---|---|---|---|---|---|\n"
        for k in table.keys.sorted() {
            let r = table[k]!
            let parts = k.components(separatedBy: " | ")
            out += "| \(parts[0]) | \(parts[1]) | \(r.files) | \(r.identical) | \(r.withinTolerance)\(r.withinTolerance > 0 ? " (\(r.maxDiff))" : "") | \(r.refused) | \(r.bothFail) | \(r.mismatch) |\n"
        }
        for k in table.keys.sorted() { for n in table[k]!.notes { out += "  - \(n)\n" } }
        print(out)
        try? out.write(to: Self.cache.appendingPathComponent("table.md"), atomically: true, encoding: .utf8)
    }
}
