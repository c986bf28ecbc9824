import Foundation
@testable import MedicalIO
import TestSupport
import XCTest

/// Compressed DICOM: every file in `Fixtures/io/dicom/codec` (made by `Fixtures/io/make_codec_fixtures.py` with
/// DCMTK from our own synthetic native images) decodes to its native source's values.
final class DICOMCodecTests: XCTestCase {
    func codec(_ name: String) -> URL { io("dicom/codec/\(name).dcm") }

    func testEveryCompressedFixtureMatchesItsNativeSource() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: io("dicom/codec").path)
            .filter { $0.hasSuffix(".dcm") && !$0.contains("_native") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 40)
        var seen = Set<String>()
        for file in names {
            let stem = String(file.dropLast(4))
            let source = String(stem.prefix { $0 != "_" })
            let native = try DICOMImage.read(codec("\(source)_native"))
            let d = try DICOMImage.read(codec(stem))
            seen.insert(d.transferSyntaxUID)
            XCTAssertEqual([d.rows, d.columns, d.samplesPerPixel, d.numberOfFrames], [24, 32, native.samplesPerPixel, 1], stem)
            XCTAssertEqual(d.rescaleSlope, native.rescaleSlope, stem)
            XCTAssertEqual(d.pixelType, native.pixelType, stem)
            var want = native.pixels
            if stem.hasSuffix("_pt2") {  // point transform 2: the two low bits are dropped
                want = want.map { Float((Int($0) >> 2) << 2) }
            }
            if stem.hasSuffix("_near") {  // JPEG-LS NEAR = 2
                let maxDiff = zip(d.pixels, want).map { Swift.abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(maxDiff, 2, stem)
                XCTAssertGreaterThan(maxDiff, 0, "\(stem): near-lossless should not be identical here")
            } else {
                XCTAssertEqual(d.pixels, want, stem)
            }
        }
        XCTAssertEqual(seen, ["1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.5",
                              "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"])
        // The signed 16-bit source really is signed and rescaled (so the test covers sign handling).
        let s16 = try DICOMImage.read(codec("s16_jpegll_sv7"))
        XCTAssertEqual(s16.rescaleSlope, 0.5); XCTAssertEqual(s16.rescaleIntercept, -1024)
        XCTAssertLessThan(s16.pixels.min() ?? 0, -1024)
    }

    /// Hand-made streams in the corpus with hand-computed values.
    func testHandMadeRLEAndLosslessJPEG() throws {
        let rle = try DICOMImage.read(fixtureURL("corpus/dicom/rle_valid_4x4.dcm"))
        XCTAssertEqual(rle.pixels, [1, 2, 3, 4] + [Float](repeating: 9, count: 12))
        // 16 samples, every difference 0 (code 00): all equal the initial prediction 2^(8-1).
        let ll = try DICOMImage.read(fixtureURL("corpus/dicom/jpegll_valid_4x4.dcm"))
        XCTAssertEqual(ll.pixels, [Float](repeating: 128, count: 16))
    }

    func testBrokenCompressedStreamsAreTypedErrors() {
        let expectations: [(String, String)] = [
            ("rle_segment_count_wrong", "segments"), ("rle_offset_past_end", "outside"), ("rle_offset_in_header", "outside"),
            ("rle_literal_past_end", "literal run"), ("rle_short_segment", "decodes to"), ("rle_header_only_20_bytes", "64-byte header"),
            ("encap_no_delimiter", "delimiter"), ("encap_fragment_past_end", "fragment"), ("encap_bot_points_nowhere", "Basic Offset Table"),
            ("encap_bot_decreasing", "Basic Offset Table"), ("encap_frames_vs_fragments", "fragments"), ("encap_no_fragments", "fragments"),
            ("encap_item_tag_wrong", "item"),
            ("jpegll_truncated_scan", "ends at sample"), ("jpegll_no_huffman_table", "Huffman table"), ("jpegll_predictor_0", "predictor 0"),
            ("jpegll_precision_17", "precision 17"), ("jpegll_huge_sof", "elements"), ("jpegll_height_0_dnl", "DNL"),
            ("jpegll_subsampled", "subsampled"), ("jpegll_oversubscribed_dht", "over-subscribed"), ("jpegll_size_mismatch", "2×2"),
            ("jpegll_restart_missing", "restart marker"), ("jpegll_segment_length_past_end", "runs past the end"),
            ("jpeg_baseline_garbage", "JPEG"), ("jpeg_baseline_12bit_header", "12-bit JPEG"), ("jpeg_baseline_not_jpeg", "SOI"),
            ("jpegls_garbage", "JPEG-LS"), ("jpegls_huge_sof", "JPEG-LS"), ("jpegls_empty", "JPEG-LS"),
            ("fuzz-jpegll-oom-huge-sof", "cannot be coded in"), ("rle_plane_too_large", "cannot hold"),
            ("j2k_garbage", "JPEG 2000"), ("j2k_huge_siz", "JPEG 2000"), ("j2k_not_j2k", "signature"),
        ]
        for (name, fragment) in expectations {
            do {
                _ = try DICOMImage.read(fixtureURL("corpus/dicom/\(name).dcm"))
                XCTFail("\(name): no error")
            } catch let e as MedicalIOError {
                XCTAssertTrue("\(e)".contains(fragment), "\(name): '\(e)' does not mention '\(fragment)'")
            } catch { XCTFail("\(name): untyped \(error)") }
        }
    }

    /// JPEG-LS frames cut short without an end-of-image marker (FuzzJPEGLS findings: CharLS 2.4.1 spent 34 s and 46 s
    /// on them natively) are a typed error at once; a stream that has its marker is passed on unchanged.
    func testJPEGLSStreamsWithoutEndMarkerFailFast() {
        for name in ["fuzz-jpegls-no-eoi-slow", "fuzz-jpegls-no-eoi-slow-2"] {
            let start = DispatchTime.now().uptimeNanoseconds
            XCTAssertThrowsError(try DICOMImage.read(fixtureURL("corpus/dicom/\(name).dcm"))) {
                XCTAssertTrue("\($0)".contains("JPEG-LS"), "\(name): \($0)")
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            XCTAssertLessThan(seconds, 5, "\(name) took \(seconds) s (a hang, not a timing benchmark)")
        }
        XCTAssertEqual(CharLSFrame.closed([1, 2, 0xFF, 0xD9, 0]), [1, 2, 0xFF, 0xD9, 0])
        XCTAssertEqual(CharLSFrame.closed([1, 2, 0xC0]), [1, 2, 0xC0, 0xFF, 0xD9])
    }

    /// pydicom's 12-bit JPEG Extended file: refused with the reason (the linked libjpeg-turbo 2.1 is 8-bit only).
    func testTwelveBitJPEGIsRefusedWithTheReason() {
        XCTAssertThrowsError(try DICOMImage.read(io("dicom/JPEG-lossy.dcm"))) {
            guard case MedicalIOError.unsupported(_, let m) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("12-bit JPEG"), m)
        }
    }
}
