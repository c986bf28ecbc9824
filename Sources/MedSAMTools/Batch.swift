import Foundation
import Imaging
import MedSAM
import MedicalIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `medsam batch`: every case of a folder, resumable and shardable.
///
/// Cases: challenge `.npz` files (2-D or 3-D, their own `boxes`) → `<name>.npz` with `segs`; and 2-D images
/// (`.png`, `.jpg`, `.npy`, `.dcm`) or NIfTI volumes with a sidecar `<stem>.boxes.txt` (one box per line,
/// `x0,y0,x1,y1` for images, `x0,y0,z0,x1,y1,z1` for NIfTI) → `<stem>.png` / `<stem>.nii.gz`.
public enum Batch {
    public struct Case: Sendable, Equatable {
        public let name: String
        public let input: URL
        public let output: URL
        public let sidecar: URL?
        public init(name: String, input: URL, output: URL, sidecar: URL?) {
            self.name = name; self.input = input; self.output = output; self.sidecar = sidecar
        }
    }

    static let imageExtensions = ["png", "jpg", "jpeg", "npy", "dcm"]

    static func stem(_ name: String) -> (stem: String, ext: String) {
        let lower = name.lowercased()
        if lower.hasSuffix(".nii.gz") { return (String(name.dropLast(7)), "nii.gz") }
        let ext = (name as NSString).pathExtension
        return (ext.isEmpty ? name : String(name.dropLast(ext.count + 1)), ext.lowercased())
    }

    /// The cases of `inputDir`, sorted by file name; `skipped` lists files that are not cases.
    public static func cases(in inputDir: URL, outputDir: URL) throws -> (cases: [Case], skipped: [String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: inputDir.path, isDirectory: &isDir), isDir.boolValue else {
            throw ToolError("no such folder: \(inputDir.path)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: inputDir.path).filter { !$0.hasPrefix(".") }.sorted()
        let set = Set(names)
        var cases = [Case](), skipped = [String]()
        for name in names {
            let (s, ext) = stem(name)
            if name.hasSuffix(".boxes.txt") { continue }
            let url = inputDir.appendingPathComponent(name)
            if ext == "npz" {
                cases.append(Case(name: name, input: url, output: outputDir.appendingPathComponent(name), sidecar: nil))
            } else if imageExtensions.contains(ext) || ext == "nii" || ext == "nii.gz" {
                let side = s + ".boxes.txt"
                guard set.contains(side) else { skipped.append("\(name) (no \(side))"); continue }
                let outName = s + (ext.hasPrefix("nii") ? ".nii.gz" : ".png")
                cases.append(Case(name: name, input: url, output: outputDir.appendingPathComponent(outName),
                                  sidecar: inputDir.appendingPathComponent(side)))
            } else {
                skipped.append(name)
            }
        }
        return (cases, skipped)
    }

    /// Shard `index` (1-based) of `count`: every `count`-th case of the sorted list, starting at `index`.
    public static func shard(_ cases: [Case], index: Int, count: Int) -> [Case] {
        cases.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }

    /// A finished output exists (a leftover temporary file is not one).
    public static func isFinished(_ c: Case) -> Bool {
        guard let a = try? FileManager.default.attributesOfItem(atPath: c.output.path),
              (a[.type] as? FileAttributeType) == .typeRegular, ((a[.size] as? NSNumber)?.intValue ?? 0) > 0 else { return false }
        return true
    }

    /// Segments one case with its stored or sidecar boxes and writes the output atomically.
    public static func run(_ c: Case, segmenter: Segmenter) throws {
        AtomicFile.removeLeftovers(of: c.output)
        if let side = c.sidecar {
            let lines = try String(contentsOf: side, encoding: .utf8).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            if c.output.lastPathComponent.hasSuffix(".nii.gz") {
                let boxes = try lines.map(ArgumentValues.box3D)
                let input = try Pipelines.loadVolume(c.input, window: nil)
                try checkBoxes(boxes, input.volume)
                try Pipelines.writeVolumeLabels(try segmenter.segmentVolume(input.volume, boxes: boxes), input: input, to: c.output)
            } else {
                let boxes = try lines.map(ArgumentValues.box)
                let input = try SegmentInput.load(c.input, window: nil, slice: nil)
                try segment2D(input, boxes: boxes, segmenter: segmenter, to: c.output)
            }
            return
        }
        let format = try InputFormat.detect(c.input)
        guard format == .npz else { throw ToolError("\(c.name): not an npz file") }
        let cc = try ChallengeCase.read(c.input)
        if cc.is3D {
            let input = try Pipelines.loadVolume(c.input, window: nil)
            try checkBoxes(input.storedBoxes, input.volume)
            try Pipelines.writeVolumeLabels(try segmenter.segmentVolume(input.volume, boxes: input.storedBoxes),
                                            input: input, to: c.output)
        } else {
            let input = try SegmentInput.load(c.input, window: nil, slice: nil)
            try segment2D(input, boxes: input.storedBoxes, segmenter: segmenter, to: c.output)
        }
    }

    static func checkBoxes(_ boxes: [Box3D], _ v: Volume) throws {
        for b in boxes { _ = try b.validated(width: v.width, height: v.height, depth: v.depth) }
    }

    static func segment2D(_ input: SegmentInput, boxes: [Box], segmenter: Segmenter, to out: URL) throws {
        for b in boxes { _ = try b.validated(width: input.width, height: input.height) }
        let labels: [UInt16]
        if boxes.isEmpty {
            labels = [UInt16](repeating: 0, count: input.width * input.height)
        } else {
            labels = Segmenter.labelMap(try segmenter.segment(try segmenter.embed(input.image), prompts: boxes.map { .box($0) }))
        }
        try Pipelines.writeLabels(labels, input: input, to: out)
    }
}

/// Progress on stderr: a redrawn bar with ETA on a terminal, plain lines otherwise.
public final class ProgressReporter {
    let total: Int
    let tty: Bool
    var done = 0
    var workSeconds = 0.0
    var worked = 0
    public init(total: Int, tty: Bool = isatty(STDERR_FILENO) != 0) { self.total = total; self.tty = tty }

    static func clock(_ s: Double) -> String {
        guard s.isFinite else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }

    /// Records one finished case (`seconds` = nil when skipped) and prints the progress.
    public func step(_ name: String, status: String, seconds: Double?) {
        done += 1
        if let seconds { workSeconds += seconds; worked += 1 }
        let remaining = total - done
        let eta = worked > 0 ? workSeconds / Double(worked) * Double(remaining) : (remaining == 0 ? 0 : .nan)
        let pct = total > 0 ? 100 * done / total : 100
        if tty {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "\r[\(bar)] \(done)/\(total) \(pct)% ETA \(Self.clock(eta))  \(name): \(status)"
            FileHandle.standardError.write(Data((line + "\u{1B}[K" + (done == total ? "\n" : "")).utf8))
        } else {
            let time = seconds.map { String(format: " in %.1f s", $0) } ?? ""
            FileHandle.standardError.write(Data("[\(done)/\(total)] \(name): \(status)\(time), ETA \(Self.clock(eta))\n".utf8))
        }
    }
}
