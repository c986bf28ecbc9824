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

/// `medsam convert IN OUT` for images and volumes: IN is anything ``ImageSource`` opens (DICOM file or series
/// folder, NIfTI, NRRD/MetaImage via ``SpatialVolume``, PNG/JPEG, .npy, challenge .npz); OUT is chosen by
/// extension: `.nii`/`.nii.gz`, `.nrrd`, `.mha` (geometry kept) or `.npy` (shape (rows, cols[, 3]) for one frame,
/// (frames, rows, cols) for several). Values are modality values (rescale / Modality LUT applied, MONOCHROME1 not
/// inverted); colour only to `.npy`.
public enum ImageConverter {
    public static let outputExtensions = ["nii", "nii.gz", "nrrd", "mha", "npy"]
    static let spatialInputs = ["nrrd", "nhdr", "mha", "mhd"]

    /// Converts and returns a one-line summary.
    /// - Throws: ``ToolError`` or ``MedicalIOError`` for unreadable input, an unknown output extension or colour to a volume format.
    public static func convert(_ input: URL, _ output: URL) throws -> String {
        let name = output.lastPathComponent.lowercased()
        guard let ext = outputExtensions.first(where: { name.hasSuffix("." + $0) && !(($0 == "nii") && name.hasSuffix(".nii.gz")) })
            ?? (name.hasSuffix(".nii.gz") ? "nii.gz" : nil) else {
            throw ToolError("\(output.lastPathComponent): output must end in \(outputExtensions.map { "." + $0 }.joined(separator: ", "))")
        }
        var (sv, rgb): (SpatialVolume?, Image?) = (nil, nil)
        var what: String
        if spatialInputs.contains(input.pathExtension.lowercased()) {
            sv = try SpatialVolume.read(input); what = "NRRD/MetaImage"
        } else {
            let src = try ImageSource.open(input)
            what = src.format.rawValue
            switch src.content {
            case .dicom(let d):
                if d.samplesPerPixel == 3 {
                    guard d.numberOfFrames == 1 else { throw ToolError("\(input.lastPathComponent): multi-frame colour DICOM: convert one frame at a time is not supported") }
                    rgb = try d.frame(0)
                } else {
                    sv = SpatialVolume(volume: try d.volume(), origin: d.imagePosition ?? [0, 0, 0], directions: directions(d.imageOrientation),
                                       exactVoxels: d.exactValues)
                }
            case .dicomSeries(let s):
                sv = SpatialVolume(volume: s.volume, origin: s.slices.first?.imagePosition ?? [0, 0, 0],
                                   directions: directions(s.slices.first?.imageOrientation), exactVoxels: s.exactVoxels)
            case .spatial(let s):
                sv = s
            case .nifti(let n):
                // NIfTI world is RAS; SpatialVolume holds LPS (negate x and y).
                let a = n.affine, sp = n.volume.spacing
                let dirs = (0..<3).map { ax in (0..<3).map { row in (row < 2 ? -1.0 : 1.0) * a[row][ax] / sp[ax] } }
                sv = SpatialVolume(volume: n.volume, origin: (0..<3).map { (($0 < 2) ? -1.0 : 1.0) * a[$0][3] }, directions: dirs)
            case .image(let img), .challenge2D(_, let img):
                if img.channels == 3 { rgb = img } else {
                    sv = SpatialVolume(volume: try Volume(width: img.width, height: img.height, depth: 1, voxels: img.pixels, pixelType: img.pixelType))
                }
            case .challenge3D(let c, _):
                let s = c.imgs.shape
                guard s.count == 3 else { throw ToolError("\(input.lastPathComponent): imgs has shape \(s)") }
                let v = try c.imgs.uint8s().map(Float.init)
                sv = SpatialVolume(volume: try Volume(width: s[2], height: s[1], depth: s[0], voxels: v, pixelType: .uint8))
            }
        }
        if let rgb {
            guard ext == "npy" else { throw ToolError("\(input.lastPathComponent) is colour (RGB): only .npy output keeps it") }
            try AtomicFile.write(output) { try NPYArray(shape: [rgb.height, rgb.width, 3], float32: rgb.pixels).write(to: $0) }
            return "\(input.lastPathComponent) (\(what), RGB \(rgb.width)×\(rgb.height)) → \(output.lastPathComponent)"
        }
        guard let sv else { throw ToolError("\(input.lastPathComponent): nothing to convert") }
        let v = sv.volume
        if ext == "npy" {
            let shape = v.depth > 1 ? [v.depth, v.height, v.width] : [v.height, v.width]
            if let exact = sv.exactVoxels {
                try AtomicFile.write(output) { try NPYArray(shape: shape, float64: exact).write(to: $0) }
            } else {
                try AtomicFile.write(output) { try NPYArray(shape: shape, float32: v.voxels).write(to: $0) }
            }
        } else {
            let type: SpatialVolume.SampleType
            switch v.pixelType {
            case .uint8: type = .uint8; case .int16: type = .int16; case .uint16: type = .uint16; case .int32: type = .int32
            case .float64: type = .float64; case .float32: type = sv.exactVoxels != nil ? .float64 : .float32
            }
            try AtomicFile.write(output) { try sv.write(to: $0, type: type) }
        }
        return "\(input.lastPathComponent) (\(what), \(v.width)×\(v.height)×\(v.depth), spacing \(v.spacing.map { String(format: "%g", $0) }.joined(separator: "×")) mm) → \(output.lastPathComponent)"
    }

    /// DICOM row / column directions and their cross product (slice normal); identity when absent.
    static func directions(_ o: [Double]?) -> [[Double]] {
        guard let o, o.count == 6 else { return [[1, 0, 0], [0, 1, 0], [0, 0, 1]] }
        let r = Array(o[0..<3]), c = Array(o[3..<6])
        return [r, c, [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]]]
    }
}

/// DICOM Segmentation output of `medsam segment` / `medsam volume` on DICOM input (`--output NAME.dcm` or
/// `--format dicom-seg`): one segment per box, labelled by `--label NAME[:tissue|:lesion]` (default `object k`,
/// SCT "Tissue"; `lesion`: category SCT "Morphologically Abnormal Structure", type SCT "Lesion").
public enum SegmentationOutput {
    /// The `--format` values.
    public static let formats = ["dicom-seg"]

    /// True when the output is a DICOM SEG; checks that the input is DICOM.
    /// - Throws: ``ToolError`` for an unknown `--format`, or a SEG asked for a non-DICOM input.
    public static func wanted(format: String?, output: URL, inputFormat: InputFormat) throws -> Bool {
        if let format, !formats.contains(format.lowercased()) {
            throw ToolError("--format \(format): expected \(formats.joined(separator: ", "))")
        }
        let seg = format != nil || output.pathExtension.lowercased() == "dcm"
        if seg && inputFormat != .dicom && inputFormat != .dicomFolder {
            throw ToolError("--output \(output.lastPathComponent): a DICOM Segmentation needs DICOM input (a file or series folder), not \(inputFormat.rawValue)")
        }
        if seg { try AtomicFile.checkFolder(of: output) }
        return seg
    }

    /// Segment descriptions for `count` boxes from the `--label` values (fewer labels: `object k` for the rest).
    /// - Throws: ``ToolError`` for more labels than boxes or an empty name.
    public static func segments(labels: [String], masks: [[UInt8]], algorithm: String) throws -> [DICOMSegment] {
        guard labels.count <= masks.count else { throw ToolError("--label: \(labels.count) labels for \(masks.count) box(es)") }
        return try masks.enumerated().map { k, mask in
            var name = k < labels.count ? labels[k] : "object \(k + 1)"
            var category = DICOMCode.tissue, type = DICOMCode.tissue
            if let colon = name.lastIndex(of: ":") {
                switch name[name.index(after: colon)...].lowercased() {
                case "tissue": name = String(name[..<colon])
                case "lesion": name = String(name[..<colon]); category = .morphologicallyAbnormalStructure; type = .lesion
                default: break
                }
            }
            guard !name.isEmpty else { throw ToolError("--label \(labels[k]): empty name") }
            return DICOMSegment(label: name, category: category, type: type, algorithmType: .semiautomatic, algorithmName: algorithm, mask: mask)
        }
    }

    /// Writes the SEG of `masks` (each `frames · rows · columns`, frame order of `source`) atomically.
    public static func write(source: DICOMSegmentationSource, masks: [[UInt8]], labels: [String], algorithm: String, to url: URL) throws {
        let seg = DICOMSegmentation(source: source, segments: try segments(labels: labels, masks: masks, algorithm: algorithm))
        try AtomicFile.write(url, data: try seg.encode())
    }
}
