import Foundation
import Imaging

/// Errors for medical files read or written by ``MedicalIO``. Every case names the file (its last path
/// component, or `"<memory>"` for in-memory data) and the problem.
///
/// ```swift
/// do { _ = try NPYArray.read(url) }
/// catch let e as MedicalIOError { print(e) }   // "scan.npy: truncated: needs 4096 bytes of data, has 100"
/// ```
public enum MedicalIOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened or read (or written).
    case io(file: String, message: String)
    /// The magic bytes / signature do not match the format.
    case badMagic(file: String, expected: String)
    /// The file ends before the structure it announces.
    case truncated(file: String, message: String)
    /// A header field is malformed or inconsistent.
    case invalidHeader(file: String, message: String)
    /// The header asks for more than ``MedicalIOLimits`` allow (dimensions, element count, bytes).
    case tooLarge(file: String, message: String)
    /// A valid file using a feature this reader does not implement.
    case unsupported(file: String, message: String)
    /// A NumPy object array (pickled Python objects); never unpickled.
    case objectArray(file: String)
    /// Compressed data that fails to decompress or whose checksum does not match.
    case corruptData(file: String, message: String)
    /// A DICOM transfer syntax with compressed pixel data (JPEG, JPEG 2000, RLE, …).
    case compressedTransferSyntax(file: String, uid: String, name: String)
    /// A required entry / attribute is missing.
    case missing(file: String, what: String)
    /// The caller's arguments do not fit the data (wrong dtype, shape, values out of range, …).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .io(f, m): return "\(f): \(m)"
        case let .badMagic(f, e): return "\(f): not a \(e) file (wrong signature)"
        case let .truncated(f, m): return "\(f): truncated: \(m)"
        case let .invalidHeader(f, m): return "\(f): invalid header: \(m)"
        case let .tooLarge(f, m): return "\(f): too large: \(m)"
        case let .unsupported(f, m): return "\(f): unsupported: \(m)"
        case let .objectArray(f): return "\(f): object arrays (pickled Python objects) are refused"
        case let .corruptData(f, m): return "\(f): corrupt data: \(m)"
        case let .compressedTransferSyntax(f, uid, name):
            return "\(f): compressed transfer syntax \(uid) (\(name)) is not supported; decompress it first (e.g. gdcmconv --raw)"
        case let .missing(f, w): return "\(f): missing \(w)"
        case let .invalidArgument(m): return m
        }
    }
}

/// Caps applied to every header before anything is allocated. The defaults allow volumes of up to
/// 2³¹ elements, 65 536 voxels per axis and 8 GiB of decoded data.
///
/// ```swift
/// let small = MedicalIOLimits(maxDimension: 4096, maxElements: 1 << 26, maxBytes: 1 << 30)
/// let vol = try NIfTIImage.read(url, limits: small)
/// ```
public struct MedicalIOLimits: Sendable, Hashable {
    public var maxDimension: Int
    public var maxElements: Int
    public var maxBytes: Int
    public init(maxDimension: Int = 1 << 16, maxElements: Int = 1 << 31, maxBytes: Int = 1 << 33) {
        self.maxDimension = maxDimension; self.maxElements = maxElements; self.maxBytes = maxBytes
    }
    public static let `default` = MedicalIOLimits()

    /// Product of `dims` after checking each is in `0...maxDimension` and the product fits `maxElements`
    /// (and, with `itemSize`, `maxBytes`).
    func checkedCount(_ dims: [Int], itemSize: Int = 1, file: String) throws -> Int {
        var n = 1
        for d in dims {
            guard d >= 0 else { throw MedicalIOError.invalidHeader(file: file, message: "negative dimension \(d) in \(dims)") }
            guard d <= maxDimension else {
                throw MedicalIOError.tooLarge(file: file, message: "dimension \(d) in \(dims) exceeds the cap \(maxDimension)")
            }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p <= maxElements else {
                throw MedicalIOError.tooLarge(file: file, message: "\(dims) has more than \(maxElements) elements")
            }
            n = p
        }
        let (bytes, o) = n.multipliedReportingOverflow(by: itemSize)
        guard !o, bytes <= maxBytes else {
            throw MedicalIOError.tooLarge(file: file, message: "\(dims) × \(itemSize) bytes exceeds \(maxBytes) bytes")
        }
        return n
    }
}

func fileLabel(_ url: URL) -> String { url.lastPathComponent }

func readFile(_ url: URL) throws -> Data {
    do { return try Data(contentsOf: url, options: .mappedIfSafe) } catch {
        throw MedicalIOError.io(file: fileLabel(url), message: "cannot read: \(error.localizedDescription)")
    }
}

func writeFile(_ data: Data, to url: URL) throws {
    do { try data.write(to: url, options: .atomic) } catch {
        throw MedicalIOError.io(file: fileLabel(url), message: "cannot write: \(error.localizedDescription)")
    }
}
