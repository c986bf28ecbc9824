import Foundation
import MedSAM
import MedicalIO

/// Atomic writes: the file is written under a temporary name in the destination folder
/// (`.<name>.partial-<pid>.<ext>`, same extension so writers that look at it behave the same) and renamed
/// over the destination only when complete, so an interrupted run never leaves a half-written output.
public enum AtomicFile {
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

    public static func write(_ url: URL, _ body: (URL) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw ToolError("cannot write \(url.path): folder \(dir.path) does not exist")
        }
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
        try AtomicFile.write(url) { tmp in
            switch ext {
            case "png":
                let img = try Image(uint16: labels, width: width, height: height)
                try PNGFile.write(img, to: tmp, bitDepth: maxLabel > 255 ? 16 : 8)
            case "npy":
                let a = maxLabel > 255 ? try NPYArray(shape: [height, width], uint16: labels)
                                       : try NPYArray(shape: [height, width], uint8: labels.map { UInt8($0) })
                try a.write(to: tmp)
            default:
                throw ToolError("--output \(url.lastPathComponent): a 2-D mask is written as .png or .npy")
            }
        }
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
        try AtomicFile.write(url) { try a.write(to: $0) }
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
        try AtomicFile.write(url) { try source.writeLabels(storage, to: $0, datatype: type) }
    }

    /// `segs` of a challenge case.
    public static func writeChallenge(_ labels: [UInt16], shape: [Int], to url: URL) throws {
        try AtomicFile.write(url) { try ChallengeCase.writeSegmentation(labels.map(Int.init), shape: shape, to: $0) }
    }
}
