import Foundation

/// Everything that can go wrong while reading or writing a checkpoint file
/// (`torch.save` zip archives and safetensors).
///
/// Files are untrusted input: every malformed, truncated or hostile file is
/// reported with one of these cases, never with a crash.
public enum CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No file at the path.
    case notFound(String)
    /// The file exists but could not be read.
    case unreadable(String, reason: String)
    /// The file ends before the structure it announces (zip directory, entry data, header).
    case truncated(String)
    /// Neither a `torch.save` zip nor a safetensors file.
    case unknownFormat(String)
    /// A zip archive that could not be parsed.
    case notAZip(String, reason: String)
    /// A pre-1.6 `torch.save` file (pickle stream or tar), which is not supported.
    case legacyFormat(String)
    /// The zip has no `…/data.pkl` record.
    case missingDataPickle(String)
    /// A storage referenced by the pickle has no `…/data/<key>` record.
    case missingStorage(key: String, entry: String)
    /// The pickle uses an opcode this reader does not implement.
    case unknownOpcode(opcode: UInt8, offset: Int)
    /// The pickle is malformed (stack underflow, memo miss, bad length, truncated, wrong types…).
    case malformedPickle(reason: String, offset: Int)
    /// The pickle names a global outside the state-dict allowlist (e.g. `os.system`). It is never executed.
    case forbiddenGlobal(module: String, name: String)
    /// A storage type this reader cannot convert (e.g. `torch.ComplexFloatStorage`).
    case unsupportedStorage(String)
    /// A storage record's size disagrees with numel × itemsize from the pickle.
    case storageSizeMismatch(key: String, expectedBytes: Int, actualBytes: Int)
    /// A tensor's offset, sizes and strides reach outside its storage.
    case storageOutOfBounds(key: String, needed: Int, available: Int)
    /// A tensor record is inconsistent (negative size/stride, wrong argument types…).
    case invalidTensor(key: String, reason: String)
    /// The unpickled object is not a state dict (nor `{"model"|"state_dict": state_dict}`).
    case noStateDict(String)
    /// A safetensors header length beyond the 100 MB limit or beyond the file.
    case headerTooLarge(UInt64)
    /// A safetensors header that is not valid (JSON, fields, offsets, sizes).
    case invalidHeader(String)
    /// A safetensors dtype this reader does not know.
    case badDType(String)
    /// The file asks for more memory than its size justifies.
    case tooLarge(String)
    /// Writing a file failed.
    case writeFailed(String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let p): return "checkpoint not found: \(p)"
        case .unreadable(let p, let r): return "checkpoint \(p) could not be read: \(r)"
        case .truncated(let p): return "checkpoint \(p) is truncated (the file ends before the data it announces)"
        case .unknownFormat(let p):
            return "\(p) is neither a torch.save zip archive nor a safetensors file"
        case .notAZip(let p, let r): return "\(p) is not a readable zip archive: \(r)"
        case .legacyFormat(let p):
            return "\(p) uses the legacy (pre-1.6) torch.save format, which is not supported; "
                + "re-save it with torch >= 1.6 (torch.save(torch.load(f), g)) or convert it to safetensors"
        case .missingDataPickle(let p): return "\(p) is a zip but has no '…/data.pkl' record (not a torch.save file)"
        case .missingStorage(let k, let e): return "storage '\(k)' is referenced but record '\(e)' is missing"
        case .unknownOpcode(let op, let off):
            let hex = String(op, radix: 16)
            let ch = (op >= 0x20 && op < 0x7F) ? " ('\(Character(UnicodeScalar(op)))')" : ""
            return "unsupported pickle opcode 0x\(hex.count < 2 ? "0" + hex : hex)\(ch) at byte \(off)"
        case .malformedPickle(let r, let off): return "malformed pickle at byte \(off): \(r)"
        case .forbiddenGlobal(let m, let n):
            return "pickle refers to forbidden global '\(m).\(n)'; only state-dict globals are allowed (nothing was executed)"
        case .unsupportedStorage(let s): return "unsupported storage type '\(s)'"
        case .storageSizeMismatch(let k, let e, let a):
            return "storage '\(k)' should hold \(e) bytes (numel × itemsize) but its record has \(a)"
        case .storageOutOfBounds(let k, let n, let a):
            return "tensor '\(k)' needs \(n) storage elements but its storage has \(a)"
        case .invalidTensor(let k, let r): return "tensor '\(k)' is invalid: \(r)"
        case .noStateDict(let r): return "no state dict found in checkpoint: \(r)"
        case .headerTooLarge(let n): return "safetensors header length \(n) is too large (limit 100 MB and the file size)"
        case .invalidHeader(let r): return "invalid safetensors header: \(r)"
        case .badDType(let d): return "unsupported safetensors dtype '\(d)'"
        case .tooLarge(let r): return "checkpoint too large: \(r)"
        case .writeFailed(let p, let r): return "could not write \(p): \(r)"
        }
    }
}
