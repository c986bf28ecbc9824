import Foundation
import MedSAM
import MedicalIO

/// File formats the tool reads, detected from the first bytes (the name only breaks ties).
public enum InputFormat: String, Sendable {
    case png, jpeg, npy, npz, nifti, dicom, dicomFolder = "DICOM folder"

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
        if name.hasSuffix(".dcm") { return .dicom }   // DICOM without preamble: the reader checks further
        let known = ".png, .jpg, .npy, .npz (challenge case), .dcm, .nii, .nii.gz or a DICOM folder"
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

    public var width: Int { image.width }
    public var height: Int { image.height }

    /// Reads any supported 2-D input (or one slice of a volume).
    public static func load(_ url: URL, window: WindowChoice?, slice: Int?) throws -> SegmentInput {
        let format = try InputFormat.detect(url)
        let what = url.lastPathComponent
        func sliceIndex(_ depth: Int) throws -> Int {
            let k = slice ?? depth / 2
            guard (0..<depth).contains(k) else { throw ToolError("--slice \(k): \(what) has slices 0…\(depth - 1)") }
            return k
        }
        func windowed(_ raw: Image, modality: String?) throws -> (Image, String) {
            let (choice, text) = WindowRule.resolve(window, pixelType: raw.pixelType, modality: modality,
                                                    minimum: raw.pixels.min() ?? 0)
            return (try WindowRule.apply(choice, to: raw, what: what), text)
        }
        switch format {
        case .png, .jpeg:
            if slice != nil { throw ToolError("--slice: \(what) is a 2-D image") }
            let raw = format == .png ? try PNGFile.read(url) : try JPEGFile.read(url)
            let (img, text) = try windowed(raw, modality: nil)
            return SegmentInput(url: url, format: format, image: img, windowDescription: text, nifti: nil, slice: nil,
                                challenge: nil, storedBoxes: [])
        case .npy:
            let a = try NPYArray.read(url)
            let raw: Image
            let pt: PixelType
            switch a.dtype {
            case .uint8, .bool: pt = .uint8
            case .int8, .int16: pt = .int16
            case .uint16: pt = .uint16
            case .int32, .uint32, .int64, .uint64: pt = .int32
            default: pt = .float32
            }
            if a.shape.count == 2 {
                raw = try Image(pixels: a.floats(), width: a.shape[1], height: a.shape[0], channels: 1, pixelType: pt)
            } else if a.shape.count == 3, a.shape[2] == 3 || a.shape[2] == 1 {
                raw = try Image(pixels: a.floats(), width: a.shape[1], height: a.shape[0], channels: a.shape[2], pixelType: pt)
            } else {
                throw ToolError("\(what): expected a 2-D array (H, W) or (H, W, 3), got shape \(a.shape)")
            }
            if slice != nil { throw ToolError("--slice: \(what) is a 2-D image") }
            let (img, text) = try windowed(raw, modality: nil)
            return SegmentInput(url: url, format: format, image: img, windowDescription: text, nifti: nil, slice: nil,
                                challenge: nil, storedBoxes: [])
        case .npz:
            let c = try ChallengeCase.read(url)
            guard !c.is3D else { throw ToolError("\(what) is a 3-D challenge case: use `medsam volume`") }
            let img = try c.image2D()
            let text = window.map(WindowRule.describe) ?? "8-bit values as they are"
            let final = try window.map { try WindowRule.apply($0, to: img, what: what) } ?? img
            return SegmentInput(url: url, format: format, image: final, windowDescription: text, nifti: nil, slice: nil,
                                challenge: c, storedBoxes: try c.boxes2D())
        case .nifti:
            let n = try NIfTIImage.read(url)
            let k = try sliceIndex(n.volume.depth)
            let (img, text) = try windowed(try n.axialSlice(k), modality: nil)
            return SegmentInput(url: url, format: format, image: img, windowDescription: text, nifti: n, slice: k,
                                challenge: nil, storedBoxes: [])
        case .dicom:
            let d = try DICOMImage.read(url)
            let k = try sliceIndex(d.numberOfFrames)
            let (img, text) = try windowed(try d.frame(k), modality: d.modality)
            return SegmentInput(url: url, format: format, image: img, windowDescription: text, nifti: nil,
                                slice: d.numberOfFrames > 1 ? k : nil, challenge: nil, storedBoxes: [])
        case .dicomFolder:
            let s = try DICOMSeries.read(url)
            let k = try sliceIndex(s.volume.depth)
            let (img, text) = try windowed(try s.volume.slice(z: k), modality: s.slices.first?.modality)
            return SegmentInput(url: url, format: format, image: img, windowDescription: text, nifti: nil, slice: k,
                                challenge: nil, storedBoxes: [])
        }
    }
}
