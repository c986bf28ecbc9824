import Checkpoint
import Foundation
import MedicalIO
import NN
import Imaging
import TestSupport
import XCTest

/// Every file under `Fixtures/corpus/<format>/` (broken files, and inputs that crashed a fuzz target
/// before the fix) goes through its parser: each must give a typed error or a valid result, never a
/// crash, a hang or an untyped error. `Fixtures/corpus/README.md` lists the files and their origin.
final class CorpusTests: XCTestCase {
    static let corpus = fixtureURL("corpus")

    static func files(_ format: String) -> [URL] {
        let dir = corpus.appendingPathComponent(format)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    /// Runs `body` on every file of `format`; returns how many parsed and how many failed with a typed error.
    @discardableResult
    func check(_ format: String, minimum: Int = 1, file: StaticString = #filePath, line: UInt = #line,
               _ body: (URL) throws -> Void) -> (ok: Int, typed: Int) {
        let urls = Self.files(format)
        XCTAssertGreaterThanOrEqual(urls.count, minimum, "corpus/\(format) is empty", file: file, line: line)
        var ok = 0, typed = 0
        for url in urls {
            do {
                try body(url)
                ok += 1
            } catch is CheckpointError { typed += 1 } catch is WeightError { typed += 1 } catch is MedicalIOError { typed += 1 } catch is PreprocessError { typed += 1 } catch {
                XCTFail("corpus/\(format)/\(url.lastPathComponent): untyped error \(type(of: error)): \(error)", file: file, line: line)
            }
        }
        return (ok, typed)
    }

    func testCheckpointCorpus() {
        for format in ["torch", "safetensors"] {
            check(format) { url in
                let sd = try StateDict(contentsOf: url)
                for k in sd.keys { XCTAssertNotNil(sd[k]) }
            }
        }
    }

    func testNumPyCorpus() {
        check("npy") { url in
            let a = try NPYArray.read(url)
            XCTAssertEqual(a.doubles().count, a.shape.reduce(1, *))
        }
        check("npz") { url in
            let npz = try NPZArchive.read(url)
            for name in ["2DCT_case.npz", "3DBox_case.npz"] {
                do {
                    let c = try ChallengeCase(npz, name: name)
                    if c.is3D { _ = try c.boxes3D(); _ = try c.slice(0) } else { _ = try c.boxes2D(); _ = try c.image2D() }
                } catch is MedicalIOError {} catch is PreprocessError {}
            }
        }
    }

    /// Found by libFuzzer (FuzzNIfTI, a "slow unit"): a gzip stream that inflates to 16 MB behind a header declaring
    /// a small volume, with a bad CRC. It was accepted — inflating stopped 1 MB past the declared data, before
    /// zlib could check the CRC. Now a typed error naming the problem.
    func testNIfTIWithRunawayGzipDataIsRefused() {
        XCTAssertThrowsError(try NIfTIImage.read(fixtureURL("corpus/nifti/gzip_trailing_16mb_bad_crc.nii.gz"))) { error in
            guard case MedicalIOError.corruptData(_, let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("past the"), message)
        }
    }

    func testMedicalImageCorpus() {
        check("nifti") { url in
            let n = try NIfTIImage.read(url)
            _ = try n.axialSlice(0)
        }
        check("dicom") { url in _ = try DICOMImage.read(url).frame(0) }
        check("png") { url in _ = try PNGFile.read(url) }
        check("jpeg") { url in _ = try JPEGFile.read(url) }
    }
}
