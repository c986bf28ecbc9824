import Foundation
import Imaging
import MedSAM
import MedicalIO

/// `medsam segment`: one 2-D image (or one slice), one or more prompts.
public struct SegmentRequest: Sendable {
    public var input: String
    public var boxes: [String] = []
    public var points: [String] = []
    public var model = "lite"
    /// The variants `model` is looked up in.
    public var registry = ModelRegistry.standard
    public var checkpoint: String?
    /// The image encoder's arithmetic (`--precision`).
    public var precision = Precision.fp32
    public var output: String
    public var probabilities: String?
    public var overlay: String?
    public var window: String?
    public var slice: Int?
    /// DICOM folder: the series to read (default: the one with the most slices).
    public var series: String?
    /// `dicom-seg`: write a DICOM Segmentation (also chosen by a `.dcm` output name); DICOM input only.
    public var format: String?
    /// DICOM SEG segment labels, one per box: `NAME`, `NAME:tissue` or `NAME:lesion`.
    public var labels: [String] = []
    public init(input: String, output: String) { self.input = input; self.output = output }
}

/// `medsam volume`: LiteMedSAM's 3-D propagation.
public struct VolumeRequest: Sendable {
    public var input: String
    public var boxes: [String] = []
    public var model = "lite"
    /// The variants `model` is looked up in.
    public var registry = ModelRegistry.standard
    public var checkpoint: String?
    /// The image encoder's arithmetic (`--precision`).
    public var precision = Precision.fp32
    public var output: String
    public var window: String?
    /// DICOM folder: the series to read (default: the one with the most slices).
    public var series: String?
    /// `dicom-seg`: write a DICOM Segmentation (also chosen by a `.dcm` output name); DICOM input only.
    public var format: String?
    /// DICOM SEG segment labels, one per box: `NAME`, `NAME:tissue` or `NAME:lesion`.
    public var labels: [String] = []
    public init(input: String, output: String) { self.input = input; self.output = output }
}

public enum Pipelines {
    // MARK: segment

    public static func segment(_ r: SegmentRequest, log: (String) -> Void) throws {
        let variant = try ModelLoader.variant(r.model, registry: r.registry)
        let window = try r.window.map(ArgumentValues.window)
        let boxes = try r.boxes.map(ArgumentValues.box)
        let points = try r.points.map(ArgumentValues.point)
        let (source, input) = try SegmentInput.open(URL(fileURLWithPath: r.input), window: window, slice: r.slice, seriesUID: r.series)
        for note in input.notes { log("note: \(note)") }
        let prompts = try ArgumentValues.prompts(boxes: boxes.isEmpty && points.isEmpty ? input.storedBoxes : boxes,
                                                 points: points)
        guard !prompts.isEmpty else {
            throw ToolError("no prompt: give at least one --box x0,y0,x1,y1 (pixels of the \(input.width)×\(input.height) image)")
        }
        try validate(prompts, width: input.width, height: input.height)
        let out = URL(fileURLWithPath: r.output)
        let asSEG = try SegmentationOutput.wanted(format: r.format, output: out, inputFormat: input.format)
        if !asSEG { try OutputWriter.checkExtension(out, allowed: outputExtensions(input.format), what: "--output") }
        try checkLabels(r.labels, boxes: prompts.count, asSEG: asSEG)
        let segSource = asSEG ? try source.dicomSegmentationSource(slice: input.slice ?? 0) : nil
        let probs = r.probabilities.map { URL(fileURLWithPath: $0) }
        if let probs { try OutputWriter.checkExtension(probs, allowed: ["npy"], what: "--probabilities") }
        let overlay = r.overlay.map { URL(fileURLWithPath: $0) }
        if let overlay { try OutputWriter.checkExtension(overlay, allowed: ["png"], what: "--overlay") }

        let sliceText = input.slice.map { ", slice \($0)" } ?? ""
        log("\(input.url.lastPathComponent): \(input.format.rawValue) \(input.width)×\(input.height)\(sliceText), \(input.windowDescription)")
        let t0 = Date()
        let segmenter = try ModelLoader.load(variant, checkpoint: r.checkpoint, registry: r.registry, precision: r.precision)
        let t1 = Date()
        let embedding = try segmenter.embed(input.image)
        let results = try segmenter.segment(embedding, prompts: prompts)
        let t2 = Date()
        let labels = Segmenter.labelMap(results)
        if let segSource {  // one segment per prompt, its own mask (segments may overlap)
            try SegmentationOutput.write(source: segSource, masks: results.map(\.mask), labels: r.labels,
                                         algorithm: segmenter.model.displayName, to: out)
        } else {
            try writeLabels(labels, input: input, to: out)
        }
        if let probs { try OutputWriter.writeProbabilities(results, to: probs) }
        if let overlay {
            let img = try Overlay.render(image: input.image, labels: labels, boxes: prompts.compactMap(\.box),
                                         points: prompts.flatMap(\.points))
            try AtomicFile.write(overlay) { try PNGFile.write(img, to: $0) }
        }
        for (k, s) in results.enumerated() {
            log("object \(k + 1): \(s.area) px, predicted IoU \(String(format: "%.3f", s.iouScore))")
        }
        log(String(format: "%@ loaded in %.2f s, segmented in %.2f s → %@", segmenter.model.displayName,
                   t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), out.path))
    }

    /// Checks boxes and points against the image size (typed errors naming the prompt): ``Segmenter/validate(_:width:height:)``.
    public static func validate(_ prompts: [SegmentationPrompt], width: Int, height: Int) throws {
        try Segmenter.validate(prompts, width: width, height: height)
    }

    static func checkLabels(_ labels: [String], boxes: Int, asSEG: Bool) throws {
        guard !labels.isEmpty else { return }
        guard asSEG else { throw ToolError("--label names DICOM SEG segments: give --output NAME.dcm or --format dicom-seg") }
        guard labels.count <= boxes else { throw ToolError("--label: \(labels.count) labels for \(boxes) prompt(s)") }
    }

    static func outputExtensions(_ f: InputFormat) -> [String] {
        switch f {
        case .nifti: return ["nii.gz", "nii"]
        case .npz: return ["npz"]
        default: return ["png", "npy"]
        }
    }

    /// Writes a 2-D label map in the input's format (PNG/npy, NIfTI with the source geometry, challenge npz).
    public static func writeLabels(_ labels: [UInt16], input: SegmentInput, to out: URL) throws {
        switch input.format {
        case .nifti:
            guard let n = input.nifti, let k = input.slice else { return }
            let plane = input.width * input.height
            var all = [UInt16](repeating: 0, count: plane * n.volume.depth)
            all.replaceSubrange((k * plane)..<((k + 1) * plane), with: labels)
            try OutputWriter.writeNIfTI(displayLabels: all, source: n, to: out)
        case .npz:
            try OutputWriter.writeChallenge(labels, shape: [input.height, input.width], to: out)
        default:
            try OutputWriter.writeLabels2D(labels, width: input.width, height: input.height, to: out)
        }
    }

    // MARK: volume

    /// A 3-D input: display-oriented (D, H, W) 8-bit volume plus what is needed to write the result.
    public struct VolumeInput: Sendable {
        public let url: URL
        public let format: InputFormat
        public let volume: Volume
        public let nifti: NIfTIImage?
        public let challenge: ChallengeCase?
        public let storedBoxes: [Box3D]
        public let windowDescription: String
        /// DICOM, NRRD or MetaImage input: origin (DICOM: first slice's Image Position) and row / column / normal directions, for NIfTI/NRRD/MetaImage output.
        public var origin: [Double]? = nil, directions: [[Double]]? = nil
        /// DICOM input with a SEG output: the slices it references.
        public var segmentationSource: DICOMSegmentationSource? = nil
        /// Messages about the input (DICOM series chosen, skipped / excluded files, ignored header values).
        public var notes: [String] = []
    }

    /// Reads a volume: NIfTI, 3-D challenge `.npz`, DICOM series folder (`seriesUID` picks the series) or multi-frame
    /// gray DICOM file. `segmentationSource`: also collect the DICOM references a SEG output needs.
    public static func loadVolume(_ url: URL, window: WindowChoice?, seriesUID: String? = nil,
                                  segmentationSource: Bool = false) throws -> VolumeInput {
        let format = try InputFormat.detect(url)
        let what = url.lastPathComponent
        if seriesUID != nil && format != .dicomFolder { throw ToolError("--series: \(what) is not a DICOM folder") }
        switch format {
        case .dicom, .dicomFolder, .nrrd, .metaImage:
            let src = try ImageSource.open(url, seriesUID: seriesUID)
            let raw: Volume
            let origin: [Double]?, directions: [[Double]]
            switch src.content {
            case .dicom(let d):
                guard d.samplesPerPixel == 1 else { throw ToolError("\(what): colour DICOM is not a volume") }
                raw = try d.volume(); origin = d.perFrame.first?.imagePosition ?? d.imagePosition
                directions = ImageConverter.directions(d.imageOrientation)
            case .dicomSeries(let s):
                raw = s.volume; origin = s.slices.first?.imagePosition; directions = ImageConverter.directions(s.slices.first?.imageOrientation)
            case .spatial(let s):
                raw = s.volume; origin = s.origin; directions = s.directions
            default: throw ToolError("\(what): not DICOM, NRRD or MetaImage")
            }
            let (choice, windowText) = WindowRule.resolve(window, pixelType: raw.pixelType, modality: src.modality, minimum: raw.voxels.min() ?? 0)
            var text = windowText
            var u8 = try WindowRule.apply(choice, values: raw.voxels, what: what)
            if src.isInverted { u8 = u8.map { 255 - $0 }; text += ", MONOCHROME1 inverted" }
            var input = VolumeInput(url: url, format: format,
                                    volume: try Volume(uint8: u8, width: raw.width, height: raw.height, depth: raw.depth, spacing: raw.spacing),
                                    nifti: nil, challenge: nil, storedBoxes: [], windowDescription: text)
            input.origin = origin ?? [0, 0, 0]
            input.directions = directions
            input.notes = src.notes
            if segmentationSource { input.segmentationSource = try src.dicomSegmentationSource() }
            return input
        case .nifti:
            let n = try NIfTIImage.read(url)
            let v = n.volume
            var values = [Float]()
            values.reserveCapacity(v.width * v.height * v.depth)
            for z in 0..<v.depth { values += try n.axialSlice(z).pixels }
            let (choice, text) = WindowRule.resolve(window, pixelType: v.pixelType, modality: nil, minimum: values.min() ?? 0)
            let u8 = try WindowRule.apply(choice, values: values, what: what)
            return VolumeInput(url: url, format: format,
                               volume: try Volume(uint8: u8, width: v.width, height: v.height, depth: v.depth, spacing: v.spacing),
                               nifti: n, challenge: nil, storedBoxes: [], windowDescription: text)
        case .npz:
            let c = try ChallengeCase.read(url)
            guard c.is3D else { throw ToolError("\(what) is a 2-D challenge case: use `medsam segment`") }
            var u8 = try c.imgs.uint8s()
            var text = "8-bit values as they are"
            if let window {
                u8 = try WindowRule.apply(window, values: u8.map(Float.init), what: what)
                text = WindowRule.describe(window)
            }
            let s = c.imgs.shape
            let boxes = try c.boxes3D()
            return VolumeInput(url: url, format: format,
                               volume: try Volume(uint8: u8, width: s[2], height: s[1], depth: s[0]),
                               nifti: nil, challenge: c, storedBoxes: boxes, windowDescription: text)
        default:
            throw ToolError("\(what): `medsam volume` reads NIfTI (.nii, .nii.gz), a 3-D challenge .npz, DICOM (series folder, multi-frame file), NRRD or MetaImage, not \(format.rawValue)")
        }
    }

    public static func volume(_ r: VolumeRequest, log: (String) -> Void) throws {
        let variant = try ModelLoader.variant(r.model, registry: r.registry)
        guard variant.supportsVolumePropagation else { throw VolumeError.unsupportedModel(variant.kind) }
        let window = try r.window.map(ArgumentValues.window)
        let parsed = try r.boxes.map(ArgumentValues.box3D)
        let inURL = URL(fileURLWithPath: r.input), out = URL(fileURLWithPath: r.output)
        let asSEG = try SegmentationOutput.wanted(format: r.format, output: out, inputFormat: InputFormat.detect(inURL))
        let input = try loadVolume(inURL, window: window, seriesUID: r.series, segmentationSource: asSEG)
        for note in input.notes { log("note: \(note)") }
        let boxes = parsed.isEmpty ? input.storedBoxes : parsed
        guard !boxes.isEmpty else { throw ToolError("no prompt: give at least one --box3d x0,y0,z0,x1,y1,z1") }
        let v = input.volume
        for b in boxes { _ = try b.validated(width: v.width, height: v.height, depth: v.depth) }
        try checkLabels(r.labels, boxes: boxes.count, asSEG: asSEG)
        if !asSEG { try OutputWriter.checkExtension(out, allowed: volumeOutputExtensions(input.format), what: "--output") }
        log("\(input.url.lastPathComponent): \(v.width)×\(v.height)×\(v.depth), \(input.windowDescription), \(boxes.count) box(es)")
        let t0 = Date()
        let segmenter = try ModelLoader.load(variant, checkpoint: r.checkpoint, registry: r.registry, precision: r.precision)
        let labels = try segmenter.segmentVolume(v, boxes: boxes)
        if let source = input.segmentationSource {  // one segment per box: the voxels labelled k (later boxes win)
            let masks = (1...boxes.count).map { k in labels.map { $0 == UInt16(k) ? UInt8(1) : 0 } }
            try SegmentationOutput.write(source: source, masks: masks, labels: r.labels, algorithm: segmenter.model.displayName, to: out)
        } else {
            try writeVolumeLabels(labels, input: input, to: out)
        }
        let counts = (1...boxes.count).map { k in labels.reduce(0) { $0 + ($1 == UInt16(k) ? 1 : 0) } }
        log(String(format: "segmented in %.2f s; voxels per object %@ → %@", Date().timeIntervalSince(t0),
                   counts.map(String.init).joined(separator: ", "), out.path))
    }

    static func volumeOutputExtensions(_ f: InputFormat) -> [String] {
        switch f {
        case .nifti: return ["nii.gz", "nii"]
        case .dicom, .dicomFolder, .nrrd, .metaImage: return ["nii.gz", "nii", "nrrd", "mha", "npy"]
        default: return ["npz"]
        }
    }

    public static func writeVolumeLabels(_ labels: [UInt16], input: VolumeInput, to out: URL) throws {
        let v = input.volume
        if let origin = input.origin, let directions = input.directions {  // DICOM input: the series' geometry
            let wide = (labels.max() ?? 0) > 255
            if out.pathExtension.lowercased() == "npy" {
                let shape = [v.depth, v.height, v.width]
                let a = wide ? try NPYArray(shape: shape, uint16: labels) : try NPYArray(shape: shape, uint8: labels.map { UInt8($0) })
                try AtomicFile.write(out, data: a.npyData())
            } else {
                let vol = try Volume(width: v.width, height: v.height, depth: v.depth, spacing: v.spacing, voxels: labels.map(Float.init),
                                     pixelType: wide ? .uint16 : .uint8)
                let sv = SpatialVolume(volume: vol, origin: origin, directions: directions)
                try AtomicFile.write(out) { try sv.write(to: $0, type: wide ? .uint16 : .uint8) }
            }
        } else if let n = input.nifti {
            try OutputWriter.writeNIfTI(displayLabels: labels, source: n, to: out)
        } else {
            try OutputWriter.writeChallenge(labels, shape: [v.depth, v.height, v.width], to: out)
        }
    }
}
