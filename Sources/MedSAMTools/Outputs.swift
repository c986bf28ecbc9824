import Foundation
import Imaging
import MedSAM
import MedicalIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Atomic writes: the file is written under a temporary name in the destination folder
/// (`.<name>.partial-<pid>.<ext>`, same extension so writers that look at it behave the same) and renamed
/// over the destination only when complete, so an interrupted run never leaves a half-written output.
///
/// ``write(_:data:)`` writes the bytes itself (plain `open`/`write`/`fsync`, then `rename`), so a process
/// killed at any moment leaves at most that one temporary file, which ``removeLeftovers(of:)`` knows.
/// ``write(_:_:)`` hands the temporary name to a writer; writers that write atomically themselves
/// (Foundation's `Data.write(options: .atomic)`) add a temporary file of their own (`.dat.nosync…`) that a
/// SIGKILL can leave behind, so outputs of `medsam batch` go through ``write(_:data:)``.
public enum AtomicFile {
    static func posixWrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, buf, count)
        #else
        Darwin.write(fd, buf, count)
        #endif
    }

    public static func temporaryURL(for url: URL) -> URL {
        let name = url.lastPathComponent
        let ext = name.lowercased().hasSuffix(".nii.gz") ? "nii.gz" : url.pathExtension
        let stem = ext.isEmpty ? name : String(name.dropLast(ext.count + 1))
        let pid = ProcessInfo.processInfo.processIdentifier
        return url.deletingLastPathComponent()
            .appendingPathComponent(".\(stem).partial-\(pid)" + (ext.isEmpty ? "" : ".\(ext)"))
    }

    /// True for names made by ``temporaryURL(for:)``.
    public static func isTemporary(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(".partial-") }

    /// Removes leftovers of interrupted writes of `url` (any process id).
    public static func removeLeftovers(of url: URL) {
        let dir = url.deletingLastPathComponent()
        let tmp = temporaryURL(for: url).lastPathComponent
        guard let prefix = tmp.components(separatedBy: ".partial-").first else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        where name.hasPrefix(prefix + ".partial-") {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))
        }
    }

    static func checkFolder(of url: URL) throws {
        let dir = url.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw ToolError("cannot write \(url.path): folder \(dir.path) does not exist")
        }
    }

    /// Writes `data` to the temporary file, flushes it to disk and renames it over `url`.
    public static func write(_ url: URL, data: Data) throws {
        try checkFolder(of: url)
        let tmp = temporaryURL(for: url)
        func fail(_ what: String) -> ToolError {
            ToolError("cannot write \(url.path): \(what): \(String(cString: strerror(errno)))")
        }
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("cannot create \(tmp.lastPathComponent)") }
        var error: ToolError? = data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) -> ToolError? in
            var done = 0
            while done < buf.count {
                let n = posixWrite(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 { if errno == EINTR { continue }; return fail("write") }
                done += n
            }
            return fsync(fd) == 0 ? nil : fail("fsync")
        }
        if close(fd) != 0, error == nil { error = fail("close") }
        if error == nil, rename(tmp.path, url.path) != 0 { error = fail("rename") }
        if let error { unlink(tmp.path); throw error }
    }

    /// Runs `body` with the temporary URL, then renames the file it wrote over `url`.
    public static func write(_ url: URL, _ body: (URL) throws -> Void) throws {
        try checkFolder(of: url)
        let tmp = temporaryURL(for: url)
        do {
            try body(tmp)
            if FileManager.default.fileExists(atPath: url.path) {
                _ = try FileManager.default.replaceItemAt(url, withItemAt: tmp)
            } else {
                try FileManager.default.moveItem(at: tmp, to: url)
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }
}

/// Writers for label maps and probabilities.
public enum OutputWriter {
    /// A 2-D label map as PNG (8-bit, or 16-bit when a label exceeds 255) or `.npy` (uint8/uint16).
    public static func writeLabels2D(_ labels: [UInt16], width: Int, height: Int, to url: URL) throws {
        let maxLabel = labels.max() ?? 0
        let ext = url.pathExtension.lowercased()
        let data: Data
        switch ext {
        case "png":
            let img = try Image(uint16: labels, width: width, height: height)
            data = try PNGFile.encode(img, bitDepth: maxLabel > 255 ? 16 : 8)
        case "npy":
            let a = maxLabel > 255 ? try NPYArray(shape: [height, width], uint16: labels)
                                   : try NPYArray(shape: [height, width], uint8: labels.map { UInt8($0) })
            data = a.npyData()
        default:
            throw ToolError("--output \(url.lastPathComponent): a 2-D mask is written as .png or .npy")
        }
        try AtomicFile.write(url, data: data)
    }

    /// Checks an output name before any work is done.
    public static func checkExtension(_ url: URL, allowed: [String], what: String) throws {
        let name = url.lastPathComponent.lowercased()
        guard allowed.contains(where: { name.hasSuffix("." + $0) }) else {
            throw ToolError("\(what) \(url.lastPathComponent): expected a \(allowed.map { "." + $0 }.joined(separator: " or ")) file")
        }
        var isDir: ObjCBool = false
        let dir = url.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw ToolError("\(what) \(url.path): folder \(dir.path) does not exist")
        }
    }

    /// Float32 `(N, H, W)` probabilities as `.npy`.
    public static func writeProbabilities(_ results: [Segmentation], to url: URL) throws {
        guard let first = results.first else { return }
        var values = [Float]()
        values.reserveCapacity(results.count * first.width * first.height)
        for r in results { values += r.probabilities.scalars }
        let a = try NPYArray(shape: [results.count, first.height, first.width], float32: values)
        try AtomicFile.write(url, data: a.npyData())
    }

    /// A NIfTI label volume with `source`'s geometry from display-oriented (D, H, W) labels
    /// (row r of slice k ↔ voxel x = column, y = ny − 1 − r, z = k, as ``NIfTIImage/axialSlice(_:t:)``).
    public static func writeNIfTI(displayLabels: [UInt16], source: NIfTIImage, to url: URL) throws {
        let v = source.volume
        let (w, h, d) = (v.width, v.height, v.depth)
        var storage = [Int](repeating: 0, count: w * h * d)
        for z in 0..<d { for r in 0..<h { for c in 0..<w {
            let l = displayLabels[(z * h + r) * w + c]
            if l != 0 { storage[c + w * ((h - 1 - r) + h * z)] = Int(l) }
        } } }
        let type: NIfTIImage.LabelType = (displayLabels.max() ?? 0) > 255 ? .int16 : .uint8
        let gzip = url.lastPathComponent.lowercased().hasSuffix(".gz")
        try AtomicFile.write(url, data: Data(try source.labelFileBytes(storage, datatype: type, gzip: gzip)))
    }

    /// `segs` of a challenge case.
    public static func writeChallenge(_ labels: [UInt16], shape: [Int], to url: URL) throws {
        let segs = try ChallengeCase.segmentationArray(labels.map(Int.init), shape: shape)
        try AtomicFile.write(url, data: try NPZArchive.data([("segs", segs)], compressed: true))
    }
}
