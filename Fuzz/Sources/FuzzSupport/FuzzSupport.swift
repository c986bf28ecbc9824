import CLibFuzzer
import Checkpoint
import Foundation
import Imaging
import MedicalIO

/// Helpers shared by the fuzz targets.
public enum Fuzz {
    nonisolated(unsafe) static var body: ((UnsafeRawBufferPointer) -> Void)?

    /// Turns on the DICOM number-value mutator (see `MedSAMFuzzUseDICOMValueMutator` in CLibFuzzer).
    public static func useDICOMValueMutator() { MedSAMFuzzUseDICOMValueMutator() }

    /// Runs libFuzzer's driver with this process's arguments, calling `body` for every input.
    public static func main(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        Fuzz.body = body
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let rc = LLVMFuzzerRunDriver(&argc, &argv) { data, size in Fuzz.one(data, size) }
        exit(rc)
    }

    /// A per-process scratch file (in /dev/shm when available) for parsers that read from a URL.
    public static let scratch: URL = {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return URL(fileURLWithPath: dir).appendingPathComponent("medsam-fuzz-\(getpid())-\(UUID().uuidString.prefix(8))")
    }()

    /// Writes `bytes` to ``scratch`` and returns its URL.
    public static func file(_ bytes: UnsafeRawBufferPointer) -> URL {
        let d = Data(bytes: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: bytes.count)
        try! d.write(to: scratch)
        return scratch
    }

    /// Limits used by the MedicalIO targets: the defaults (what users get) — libFuzzer's
    /// `-malloc_limit_mb` flags any single allocation over 2 GB as a crash.
    public static let limits = MedicalIOLimits.default

    /// Reads the whole checkpoint with ``StateDict`` and touches every tensor. Only typed errors may escape.
    public static func loadCheckpoint(_ url: URL) {
        do {
            let sd = try StateDict(contentsOf: url)
            var sum: Float = 0
            for k in sd.keys { sum += sd[k]!.scalars.first ?? 0 }
            blackHole(sum)
        } catch is CheckpointError {
        } catch is WeightError {
        } catch {
            fatalError("untyped error from StateDict: \(type(of: error)) \(error)")
        }
    }

    /// Runs `body`; any error other than `MedicalIOError` / `PreprocessError` is a finding.
    public static func medicalIO(_ body: () throws -> Void) {
        do { try body() } catch is MedicalIOError {} catch is PreprocessError {} catch {
            fatalError("untyped error from MedicalIO: \(type(of: error)) \(error)")
        }
    }

    /// What `LLVMFuzzerTestOneInput` calls (also reached through the driver's callback).
    static func one(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        Fuzz.body?(UnsafeRawBufferPointer(start: size == 0 ? nil : data, count: size))
        return 0
    }

    @inline(never) public static func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

    // MARK: - A stored ZIP written by hand (torch.save layout)

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func crc32(_ b: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for x in b { c = crcTable[Int((c ^ UInt32(x)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// An uncompressed ZIP archive of `entries` (what `torch.save` writes, minus alignment padding).
    public static func storedZip(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: UInt32, _ a: inout [UInt8]) { for i in 0..<4 { a.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        for (name, data) in entries {
            let n = Array(name.utf8), crc = crc32(data), offset = UInt32(out.count)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out)
            u32(crc, &out); u32(UInt32(data.count), &out); u32(UInt32(data.count), &out); u16(n.count, &out); u16(0, &out)
            out += n; out += data
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(crc, &central); u32(UInt32(data.count), &central); u32(UInt32(data.count), &central)
            u16(n.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central); u32(0, &central)
            u32(offset, &central); central += n
        }
        let cdOffset = UInt32(out.count)
        out += central
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(UInt32(central.count), &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }

    /// Storage records `archive/data/0…3` of 16, 64, 4 and 0 bytes that fuzzed pickles may reference.
    public static let storages: [(String, [UInt8])] = [
        ("archive/data/0", (0..<16).map { UInt8($0) }),
        ("archive/data/1", [UInt8](repeating: 0x3F, count: 64)),
        ("archive/data/2", [0, 0, 0x80, 0x3F]),
        ("archive/data/3", []),
    ]
}

/// libFuzzer's entry point, for drivers that look it up by name.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { Fuzz.one(data, size) }

extension Fuzz {
    /// One encapsulated DICOM frame through `DICOMCodec` for `transferSyntaxUID`. The first 2 input bytes choose the
    /// layout a header would give (rows, columns 1…64, 1 or 3 samples, 8 or 16 bits); the rest is the compressed frame.
    public static func decodeFrame(_ input: UnsafeRawBufferPointer, transferSyntaxUID: String) {
        let bytes = [UInt8](input)
        guard bytes.count >= 2 else { return }
        let layout = DICOMCodec.Layout(rows: Int(bytes[0] & 63) + 1, columns: Int(bytes[1] & 63) + 1,
                                       samplesPerPixel: bytes[0] & 64 != 0 ? 3 : 1, bitsAllocated: bytes[0] & 128 != 0 ? 16 : 8,
                                       bitsStored: bytes[0] & 128 != 0 ? 12 + Int(bytes[1] >> 6) : 8, signed: bytes[1] & 64 != 0,
                                       photometric: bytes[0] & 64 != 0 ? "RGB" : "MONOCHROME2")
        medicalIO {
            blackHole(try DICOMCodec.decodeFrame(Array(bytes.dropFirst(2)), transferSyntaxUID: transferSyntaxUID, layout: layout,
                                                 limits: limits).count)
        }
    }
}
