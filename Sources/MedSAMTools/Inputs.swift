import Foundation
import Imaging
import MedSAM
import MedicalIO

/// File formats the tool reads, detected from the first bytes (the name only breaks ties).
public enum InputFormat: String, Sendable {
    case png, jpeg, npy, npz, nifti, dicom, dicomFolder = "DICOM folder", nrrd = "NRRD", metaImage = "MetaImage"

    /// Detects the format of `url`; throws for a missing file or an unknown format.
    public static func detect(_ url: URL) throws -> InputFormat {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ToolError("no such file: \(url.path)")
        }
        if isDir.boolValue { return .dicomFolder }
        guard let fh = FileHandle(forReadingAtPath: url.path) else { throw ToolError("cannot open \(url.path)") }
        defer { try? fh.close() }
        let head = [UInt8]((try? fh.read(upToCount: 352)) ?? Data())
        let name = url.lastPathComponent.lowercased()
        func starts(_ m: [UInt8]) -> Bool { head.count >= m.count && Array(head[0..<m.count]) == m }
        if starts([0x89, 0x50, 0x4E, 0x47]) { return .png }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) { return .npy }
        if starts([0x50, 0x4B]) { return .npz }
        if head.count >= 132, head[128..<132].elementsEqual([0x44, 0x49, 0x43, 0x4D]) { return .dicom }
        if head.count >= 348, head[344..<347].elementsEqual([0x6E, 0x2B, 0x31]) || head[344..<347].elementsEqual([0x6E, 0x69, 0x31]) {
            return .nifti
        }
        if starts([0x1F, 0x8B]), name.hasSuffix(".nii.gz") { return .nifti }
        if starts(Array("NRRD000".utf8)) { return .nrrd }
        if name.hasSuffix(".mha") || name.hasSuffix(".mhd") || starts(Array("ObjectType".utf8)) || starts(Array("NDims".utf8)) {
            return .metaImage
        }
        if name.hasSuffix(".dcm") { return .dicom }   // DICOM without preamble: the reader checks further
        let known = ".png, .jpg, .npy, .npz (challenge case), .dcm, .nii, .nii.gz, .nrrd, .mha or a DICOM folder"
        if head.isEmpty { throw ToolError("\(url.lastPathComponent): empty file (expected \(known))") }
        throw ToolError("\(url.lastPathComponent): unknown file format (expected \(known))")
    }
}

/// The default intensity rule (documented in the README and `medsam segment --help`):
/// 8-bit data is used as it is; CT (DICOM `Modality` CT, or data with negative values taken as Hounsfield
/// units) gets the soft-tissue window L 40 / W 400; any other 16-bit or float data (MR, microscopy, …)
/// the percentile rule of `pre_CT_MR.py` (0.5–99.5 % of the positive values).
public enum WindowRule {
    public static func resolve(_ choice: WindowChoice?, pixelType: PixelType, modality: String?, minimum: Float) -> (WindowChoice, String) {
        if let choice { return (choice, describe(choice)) }
        if pixelType == .uint8 { return (.none, "8-bit values as they are") }
        if modality?.uppercased() == "CT" { return (.window(.ct(.softTissue)), "CT: soft-tissue window L 40 / W 400") }
        if modality == nil && minimum < 0 {
            return (.window(.ct(.softTissue)), "negative values taken as CT HU: soft-tissue window L 40 / W 400")
        }
        return (.window(.percentile()), "percentile window 0.5–99.5 % of positive values")
    }

    public static func describe(_ c: WindowChoice) -> String {
        switch c {
        case .none: return "no window"
        case .window(.percentile(let lo, let hi)): return "percentile window \(lo)–\(hi) %"
        case .window(.ct(let w)): return "CT window L \(w.level) / W \(w.width)"
        }
    }

    /// Applies the choice to raw values → 8-bit values.
    public static func apply(_ c: WindowChoice, values: [Float], what: String) throws -> [UInt8] {
        switch c {
        case .window(let w):
            do { return try w.apply(values: values.map(Double.init)) } catch PreprocessError.noNonZeroValues {
                throw ToolError("\(what): no positive values for the percentile window; pass --window L,W or --window none")
            }
        case .none:
            var lo = Float.infinity, hi = -Float.infinity
            for v in values { lo = min(lo, v); hi = max(hi, v) }
            guard lo >= 0, hi < 256 else {
                throw ToolError("\(what): values \(lo)…\(hi) are not 8-bit; pass --window (soft-tissue, lung, bone, brain, L,W or percentile)")
            }
            return values.map { UInt8($0) }
        }
    }

    public static func apply(_ c: WindowChoice, to image: Image, what: String) throws -> Image {
        try Image(uint8: apply(c, values: image.pixels, what: what), width: image.width, height: image.height,
                  channels: image.channels)
    }
}

/// A 2-D image ready for the model, with what is needed to write results in the input's format.
public struct SegmentInput: Sendable {
    public let url: URL
    public let format: InputFormat
    /// 8-bit, 1 or 3 channels.
    public let image: Image
    public let windowDescription: String
    /// NIfTI input: the file and the axial slice.
    public let nifti: NIfTIImage?
    public let slice: Int?
    /// Challenge `.npz` input.
    public let challenge: ChallengeCase?
    /// Boxes stored in the input (challenge `boxes`).
    public let storedBoxes: [Box]
    /// Messages for the user about the input (DICOM folder: the series chosen and the others, skipped and
    /// excluded files; header values that were ignored).
    public var notes: [String] = []

    public var width: Int { image.width }
    public var height: Int { image.height }

    /// Reads any supported 2-D input (or one slice of a volume); `seriesUID` picks the series of a DICOM folder.
    public static func load(_ url: URL, window: WindowChoice?, slice: Int?, seriesUID: String? = nil) throws -> SegmentInput {
        try open(url, window: window, slice: slice, seriesUID: seriesUID).input
    }

    /// ``load(_:window:slice:seriesUID:)`` that also returns the opened file (for outputs that reference it, DICOM SEG).
    public static func open(_ url: URL, window: WindowChoice?, slice: Int?, seriesUID: String? = nil) throws -> (source: ImageSource, input: SegmentInput) {
        let source = try ImageSource.open(url, allow3DChallenge: false, seriesUID: seriesUID)
        if slice != nil && !source.hasSlices {
            throw ToolError("--slice: \(url.lastPathComponent) is a 2-D image")
        }
        return (source, try source.input(slice: slice, window: window))
    }
}

/// An opened input file from which any slice can be taken under any intensity window; `medsam serve` keeps
/// one per upload, `medsam segment` opens one and takes one slice.
public struct ImageSource: Sendable {
    /// What was read, with raw (unwindowed) values.
    public enum Content: Sendable {
        /// PNG, JPEG or `.npy`: one 2-D image.
        case image(Image)
        /// A 2-D challenge `.npz` (8-bit) with its stored boxes.
        case challenge2D(ChallengeCase, Image)
        /// A 3-D challenge `.npz` (8-bit), as a volume of axial slices.
        case challenge3D(ChallengeCase, Volume)
        case nifti(NIfTIImage)
        case dicom(DICOMImage)
        case dicomSeries(DICOMSeries)
        /// NRRD or MetaImage: a volume with its geometry; slices along the third axis, as stored (x = column, y = row).
        case spatial(SpatialVolume)
    }

    public let url: URL
    public let format: InputFormat
    public let content: Content
    /// Number of slices (1 for 2-D images).
    public let slices: Int
    /// Size of every slice.
    public let width: Int
    public let height: Int

    /// Whether the format can hold several slices (`--slice` is accepted even when there is only one).
    public var hasSlices: Bool {
        switch content {
        case .image, .challenge2D: return false
        default: return true
        }
    }

    /// The middle slice: what `medsam segment` uses without `--slice`.
    public var defaultSlice: Int { slices / 2 }

    /// DICOM `Modality` when known.
    public var modality: String? {
        switch content {
        case .dicom(let d): return d.modality
        case .dicomSeries(let s): return s.slices.first?.modality
        default: return nil
        }
    }

    /// Boxes stored in the input (challenge `boxes`).
    public func storedBoxes() throws -> [Box] {
        if case .challenge2D(let c, _) = content { return try c.boxes2D() }
        return []
    }

    /// Messages for the user about the input: DICOM series chosen / skipped / excluded files, ignored header values.
    public var notes: [String] {
        switch content {
        case .dicom(let d): return d.warnings
        case .dicomSeries(let s): return s.messages + Array(Set(s.slices.flatMap(\.warnings))).sorted()
        default: return []
        }
    }

    /// Opens `url` (format detected from its bytes). A 3-D challenge case is refused unless `allow3DChallenge`.
    /// `limits` caps what the readers decode (`medsam serve` derives them from its memory budget); `seriesUID` picks
    /// the series of a DICOM folder (default: the one with the most slices).
    public static func open(_ url: URL, allow3DChallenge: Bool = true, seriesUID: String? = nil,
                            limits: MedicalIOLimits = .default) throws -> ImageSource {
        let format = try InputFormat.detect(url)
        if seriesUID != nil && format != .dicomFolder {
            throw ToolError("--series: \(url.lastPathComponent) is not a DICOM folder")
        }
        let what = url.lastPathComponent
        switch format {
        case .png, .jpeg:
            let raw = format == .png ? try PNGFile.read(url, limits: limits) : try JPEGFile.read(url, limits: limits)
            return ImageSource(url: url, format: format, content: .image(raw), slices: 1, width: raw.width, height: raw.height)
        case .npy:
            let a = try NPYArray.read(url, limits: limits)
            let pt: PixelType
            switch a.dtype {
            case .uint8, .bool: pt = .uint8
            case .int8, .int16: pt = .int16
            case .uint16: pt = .uint16
            case .int32, .uint32, .int64, .uint64: pt = .int32
            default: pt = .float32
            }
            let raw: Image
            if a.shape.count == 2 {
                raw = try Image(pixels: a.floats(), width: a.shape[1], height: a.shape[0], channels: 1, pixelType: pt)
            } else if a.shape.count == 3, a.shape[2] == 3 || a.shape[2] == 1 {
                raw = try Image(pixels: a.floats(), width: a.shape[1], height: a.shape[0], channels: a.shape[2], pixelType: pt)
            } else {
                throw ToolError("\(what): expected a 2-D array (H, W) or (H, W, 3), got shape \(a.shape)")
            }
            return ImageSource(url: url, format: format, content: .image(raw), slices: 1, width: raw.width, height: raw.height)
        case .npz:
            let c = try ChallengeCase.read(url, limits: limits)
            if c.is3D {
                guard allow3DChallenge else { throw ToolError("\(what) is a 3-D challenge case: use `medsam volume`") }
                let s = c.imgs.shape
                let v = try Volume(uint8: try c.imgs.uint8s(), width: s[2], height: s[1], depth: s[0])
                return ImageSource(url: url, format: format, content: .challenge3D(c, v), slices: s[0], width: s[2], height: s[1])
            }
            let img = try c.image2D()
            return ImageSource(url: url, format: format, content: .challenge2D(c, img), slices: 1, width: img.width, height: img.height)
        case .nifti:
            let n = try NIfTIImage.read(url, limits: limits)
            let first = try n.axialSlice(0)
            return ImageSource(url: url, format: format, content: .nifti(n), slices: n.volume.depth,
                               width: first.width, height: first.height)
        case .dicom:
            let d = try DICOMImage.read(url, limits: limits)
            let first = try d.frame(0)
            return ImageSource(url: url, format: format, content: .dicom(d), slices: d.numberOfFrames,
                               width: first.width, height: first.height)
        case .nrrd, .metaImage:
            let ext = url.pathExtension.lowercased()
            let allowed = format == .nrrd ? ["nrrd", "nhdr"] : ["mha", "mhd"]
            guard allowed.contains(ext) else {
                throw ToolError("\(what): \(format.rawValue) data is read from a file named .\(allowed.joined(separator: " or ."))")
            }
            let s = try SpatialVolume.read(url, limits: limits)
            let v = s.volume
            guard v.frames == 1 else { throw ToolError("\(what): \(v.frames) frames; a 3-D (or 2-D) volume is expected") }
            return ImageSource(url: url, format: format, content: .spatial(s), slices: v.depth, width: v.width, height: v.height)
        case .dicomFolder:
            let s = try DICOMSeries.read(url, seriesUID: seriesUID, limits: limits)
            let first = try s.volume.slice(z: 0)
            return ImageSource(url: url, format: format, content: .dicomSeries(s), slices: s.volume.depth,
                               width: first.width, height: first.height)
        }
    }

    /// Slice `k` with raw values.
    public func rawSlice(_ k: Int) throws -> Image {
        guard (0..<slices).contains(k) else {
            throw ToolError("--slice \(k): \(url.lastPathComponent) has slices 0…\(slices - 1)")
        }
        switch content {
        case .image(let img), .challenge2D(_, let img): return img
        case .challenge3D(_, let v): return try v.slice(z: k)
        case .nifti(let n): return try n.axialSlice(k)
        case .dicom(let d): return try d.frame(k)
        case .dicomSeries(let s): return try s.volume.slice(z: k)
        case .spatial(let s): return try s.volume.slice(z: k)
        }
    }

    /// True for MONOCHROME1 DICOM (higher values display darker): ``input(slice:window:)`` inverts the windowed
    /// 8-bit image; raw slices and converted files keep the stored orientation of values.
    public var isInverted: Bool {
        switch content {
        case .dicom(let d): return d.isInverted
        case .dicomSeries(let s): return s.slices.first?.isInverted ?? false
        default: return false
        }
    }

    /// The window `medsam segment` would use for slice `k` given the user's `choice` (nil = the default rule).
    public func window(for raw: Image, choice: WindowChoice?) -> (WindowChoice, String) {
        switch content {
        case .challenge2D, .challenge3D:
            // Challenge cases are already 8-bit, preprocessed by the challenge.
            return choice.map { ($0, WindowRule.describe($0)) } ?? (.none, "8-bit values as they are")
        default:
            return WindowRule.resolve(choice, pixelType: raw.pixelType, modality: modality, minimum: raw.pixels.min() ?? 0)
        }
    }

    /// Slice `k` (default: the middle one) as the 8-bit image the model sees, under `window` (nil = default rule).
    public func input(slice: Int?, window: WindowChoice?) throws -> SegmentInput {
        let k = slice ?? defaultSlice
        let raw = try rawSlice(k)
        let (choice, windowText) = self.window(for: raw, choice: window)
        var text = windowText
        var img = try WindowRule.apply(choice, to: raw, what: url.lastPathComponent)
        if isInverted {  // MONOCHROME1: higher values are darker; the model (and the page) see them inverted
            img = try Image(pixels: img.pixels.map { 255 - $0 }, width: img.width, height: img.height, channels: img.channels,
                            pixelType: img.pixelType)
            text += ", MONOCHROME1 inverted"
        }
        var nifti: NIfTIImage?
        var challenge: ChallengeCase?
        switch content {
        case .nifti(let n): nifti = n
        case .challenge2D(let c, _), .challenge3D(let c, _): challenge = c
        default: break
        }
        let sliceIndex: Int?
        switch content {
        case .image, .challenge2D: sliceIndex = nil
        case .dicom: sliceIndex = slices > 1 ? k : nil
        default: sliceIndex = k
        }
        return SegmentInput(url: url, format: format, image: img, windowDescription: text, nifti: nifti, slice: sliceIndex,
                            challenge: challenge, storedBoxes: try storedBoxes(), notes: notes)
    }
}

extension ImageSource {
    /// The DICOM images a DICOM Segmentation of this input references: every frame / series slice, or only
    /// slice `k` when given (what `medsam segment` segments). Nil for other formats.
    /// - Throws: ``MedicalIOError`` when a DICOM file lacks its SOP Class / Instance UID.
    public func dicomSegmentationSource(slice k: Int? = nil) throws -> DICOMSegmentationSource? {
        var s: DICOMSegmentationSource
        switch content {
        case .dicom(let d): s = try DICOMSegmentationSource(image: d, file: url.lastPathComponent)
        case .dicomSeries(let series): s = try DICOMSegmentationSource(series: series)
        default: return nil
        }
        if let k {
            guard s.frames.indices.contains(k) else { throw ToolError("--slice \(k): \(url.lastPathComponent) has slices 0…\(s.frames.count - 1)") }
            s.frames = [s.frames[k]]
        }
        return s
    }
}
