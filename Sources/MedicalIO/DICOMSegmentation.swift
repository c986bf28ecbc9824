import Foundation

/// A coded concept (Code Value, Coding Scheme Designator, Code Meaning), as in a Code Sequence item.
public struct DICOMCode: Sendable, Hashable, CustomStringConvertible {
    public var value: String, scheme: String, meaning: String
    public init(value: String, scheme: String, meaning: String) { self.value = value; self.scheme = scheme; self.meaning = meaning }
    public var description: String { "\(scheme) \(value) \"\(meaning)\"" }

    /// SCT 85756007 "Tissue" (in CID 7150 Segmentation Property Categories and CID 7151 Types).
    public static let tissue = DICOMCode(value: "85756007", scheme: "SCT", meaning: "Tissue")
    /// SCT 49755003 "Morphologically Abnormal Structure" (CID 7150), the category of ``lesion``.
    public static let morphologicallyAbnormalStructure = DICOMCode(value: "49755003", scheme: "SCT", meaning: "Morphologically Abnormal Structure")
    /// SCT 52988006 "Lesion" (CID 7151).
    public static let lesion = DICOMCode(value: "52988006", scheme: "SCT", meaning: "Lesion")
    /// DCM 113076 "Segmentation" (Derivation Code).
    static let segmentation = DICOMCode(value: "113076", scheme: "DCM", meaning: "Segmentation")
    /// DCM 121322 "Source image for image processing operation" (Purpose of Reference).
    static let sourceImage = DICOMCode(value: "121322", scheme: "DCM", meaning: "Source image for image processing operation")

    var item: [DICOMElement] {
        [.text(0x0008_0100, "SH", value), .text(0x0008_0102, "SH", scheme), .text(0x0008_0104, "LO", meaning)]
    }
}

/// The images a segmentation is drawn on: their identity (patient, study, series, frame of reference) and
/// geometry, and one reference per frame of the segmentation's mask (the source SOP instance, its frame
/// number for a multi-frame source, its position).
public struct DICOMSegmentationSource: Sendable {
    /// One source frame: mask frame `i` lies on ``frames``[i].
    public struct Frame: Sendable, Hashable {
        public var sopClassUID: String, sopInstanceUID: String
        /// 1-based frame number in a multi-frame source instance; nil for single-frame instances.
        public var frameNumber: Int?
        /// Image Position (Patient) of the frame's first pixel, mm.
        public var imagePosition: [Double]?
        public init(sopClassUID: String, sopInstanceUID: String, frameNumber: Int? = nil, imagePosition: [Double]? = nil) {
            self.sopClassUID = sopClassUID; self.sopInstanceUID = sopInstanceUID
            self.frameNumber = frameNumber; self.imagePosition = imagePosition
        }
    }

    /// Patient, study, series and frame of reference of the source (its Series Instance UID is the one referenced).
    public var identity: DICOMIdentity
    public var rows: Int, columns: Int
    /// Row spacing, column spacing (mm).
    public var pixelSpacing: [Double]?
    public var sliceThickness: Double?
    /// Image Orientation (Patient): row and column direction cosines.
    public var imageOrientation: [Double]?
    public var frames: [Frame]

    public init(identity: DICOMIdentity, rows: Int, columns: Int, pixelSpacing: [Double]?, sliceThickness: Double?,
                imageOrientation: [Double]?, frames: [Frame]) {
        self.identity = identity; self.rows = rows; self.columns = columns; self.pixelSpacing = pixelSpacing
        self.sliceThickness = sliceThickness; self.imageOrientation = imageOrientation; self.frames = frames
    }

    /// Every frame of one DICOM file (a single-frame image, or each frame of a multi-frame one, positions from
    /// its per-frame functional groups).
    /// - Throws: ``MedicalIOError/missing(file:what:)`` when the file has no SOP Class / Instance UID.
    public init(image d: DICOMImage, file: String = "<DICOM>") throws {
        guard let cls = d.identity.sopClassUID, let inst = d.identity.sopInstanceUID else {
            throw MedicalIOError.missing(file: file, what: "SOP Class / Instance UID (a segmentation must reference its source)")
        }
        let multi = d.numberOfFrames > 1
        let frames = (0..<d.numberOfFrames).map { i in
            Frame(sopClassUID: cls, sopInstanceUID: inst, frameNumber: multi ? i + 1 : nil,
                  imagePosition: i < d.perFrame.count ? d.perFrame[i].imagePosition : (multi ? nil : d.imagePosition))
        }
        self.init(identity: d.identity, rows: d.rows, columns: d.columns, pixelSpacing: d.pixelSpacing,
                  sliceThickness: d.sliceThickness, imageOrientation: d.imageOrientation, frames: frames)
    }

    /// The slices of a series in the volume's order (frame `k` ↔ ``DICOMSeries/volume`` slice `z = k`).
    /// - Throws: ``MedicalIOError/missing(file:what:)`` when a slice has no SOP Class / Instance UID.
    public init(series s: DICOMSeries) throws {
        var frames = [Frame]()
        for (u, d) in zip(s.files, s.slices) {
            guard let cls = d.identity.sopClassUID, let inst = d.identity.sopInstanceUID else {
                throw MedicalIOError.missing(file: u.lastPathComponent, what: "SOP Class / Instance UID (a segmentation must reference its source)")
            }
            frames.append(Frame(sopClassUID: cls, sopInstanceUID: inst, imagePosition: d.imagePosition))
        }
        guard let first = s.slices.first else { throw MedicalIOError.missing(file: "<series>", what: "slices") }
        self.init(identity: first.identity, rows: first.rows, columns: first.columns, pixelSpacing: first.pixelSpacing,
                  sliceThickness: first.sliceThickness, imageOrientation: first.imageOrientation, frames: frames)
    }

    /// True when every frame has a position, the orientation is known and there is a Frame of Reference: the
    /// segmentation then carries Plane Position / Orientation and the Frame of Reference module.
    public var isSpatial: Bool {
        imageOrientation?.count == 6 && identity.frameOfReferenceUID != nil && frames.allSatisfy { $0.imagePosition?.count == 3 }
    }
}

/// One segment: a label, what it is (coded category and type) and its binary mask over the source frames.
public struct DICOMSegment: Sendable {
    /// Segment Algorithm Type (0062,0008).
    public enum AlgorithmType: String, Sendable { case automatic = "AUTOMATIC", semiautomatic = "SEMIAUTOMATIC", manual = "MANUAL" }

    /// Segment Label (0062,0005), at most 64 characters.
    public var label: String
    /// Segmented Property Category Code (CID 7150), default SCT "Tissue".
    public var category: DICOMCode
    /// Segmented Property Type Code (CID 7151), default SCT "Tissue".
    public var type: DICOMCode
    public var algorithmType: AlgorithmType
    /// Segment Algorithm Name (0062,0009), required unless the algorithm type is manual.
    public var algorithmName: String?
    /// `frames · rows · columns` values in source frame order, row-major; non-zero = inside the segment.
    public var mask: [UInt8]

    public init(label: String, category: DICOMCode = .tissue, type: DICOMCode = .tissue,
                algorithmType: AlgorithmType = .semiautomatic, algorithmName: String? = "MedSAM", mask: [UInt8]) {
        self.label = label; self.category = category; self.type = type
        self.algorithmType = algorithmType; self.algorithmName = algorithmName; self.mask = mask
    }
}

/// Writes binary DICOM Segmentation objects (Segmentation Storage, 1.2.840.10008.5.1.4.1.1.66.4) that
/// reference their source images: what `highdicom.seg.segread`, pydicom and `dciodvfy` read.
///
/// Layout: Explicit VR Little Endian; `BitsAllocated` 1 with the frames' bits packed back to back (LSB first);
/// one frame per (segment, source frame) pair, in segment order then source frame order. Frames whose mask is
/// empty are left out (a reader fills them with zeros) except that a segment with no pixel at all keeps its
/// first frame, so every segment appears. Shared Functional Groups: Pixel Measures, Plane Orientation (spatial
/// sources, ``DICOMSegmentationSource/isSpatial``); per frame: Derivation Image (Source Image Sequence naming the source SOP instance and frame), Frame Content
/// (Dimension Index Values = segment number, position index), Plane Position, Segment Identification. Patient
/// and General Study attributes are copied from the source; a new series, instance and dimension organization
/// UID (`2.25.<UUID>`) are made unless given.
///
/// ```swift
/// let ct = try DICOMImage.read(URL(fileURLWithPath: "CT_small.dcm"))
/// let seg = DICOMSegmentation(source: try DICOMSegmentationSource(image: ct),
///                             segments: [DICOMSegment(label: "liver", mask: mask)])
/// try seg.write(to: URL(fileURLWithPath: "liver.seg.dcm"))
/// ```
public struct DICOMSegmentation: Sendable {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.66.4"

    public var source: DICOMSegmentationSource
    public var segments: [DICOMSegment]
    /// Series Description (0008,103E).
    public var seriesDescription = "MedSAM segmentation"
    public var seriesNumber = 300
    public var instanceNumber = 1
    /// Content Label (0070,0080): a code string (upper case, digits, space, `_`), at most 16 characters.
    public var contentLabel = "MEDSAM"
    public var contentDescription = "Box-prompted segmentation"
    public var manufacturer = "MedSAM-Swift"
    public var manufacturerModelName = "MedSAM-Swift"
    public var softwareVersions = "0.1.0"
    public var deviceSerialNumber = "1"
    /// New UIDs when nil.
    public var seriesInstanceUID: String?, sopInstanceUID: String?
    /// Content Date / Time and Instance Creation Date / Time.
    public var date = Date()

    public init(source: DICOMSegmentationSource, segments: [DICOMSegment]) { self.source = source; self.segments = segments }

    /// Checks the segments against the source (typed errors naming the problem, never a trap).
    public func validate() throws {
        let s = source
        guard s.rows >= 1, s.columns >= 1, s.rows <= 65535, s.columns <= 65535 else {
            throw MedicalIOError.invalidArgument("segmentation: source size \(s.rows)×\(s.columns)")
        }
        guard !s.frames.isEmpty else { throw MedicalIOError.invalidArgument("segmentation: the source has no frames") }
        guard !segments.isEmpty, segments.count <= 65535 else {
            throw MedicalIOError.invalidArgument("segmentation: \(segments.count) segments (1…65535 allowed)")
        }
        let (n, overflow) = s.frames.count.multipliedReportingOverflow(by: s.rows * s.columns)
        guard !overflow else { throw MedicalIOError.invalidArgument("segmentation: source too large") }
        guard s.identity.studyInstanceUID != nil, s.identity.seriesInstanceUID != nil else {
            throw MedicalIOError.invalidArgument("segmentation: the source has no Study / Series Instance UID")
        }
        func check(_ v: String, _ what: String, max: Int, codeString: Bool = false) throws {
            guard !v.isEmpty, v.count <= max, !v.contains("\\"), v.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw MedicalIOError.invalidArgument("segmentation: \(what) '\(v)' must be 1…\(max) printable characters without '\\'")
            }
            if codeString, !v.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x20 || $0 == 0x5F }) {
                throw MedicalIOError.invalidArgument("segmentation: \(what) '\(v)' must be upper case letters, digits, space or _")
            }
        }
        try check(contentLabel, "content label", max: 16, codeString: true)
        for (k, seg) in segments.enumerated() {
            guard seg.mask.count == n else {
                throw MedicalIOError.invalidArgument("segmentation: segment \(k + 1) mask has \(seg.mask.count) values, the source \(s.frames.count)×\(s.rows)×\(s.columns) = \(n)")
            }
            try check(seg.label, "segment \(k + 1) label", max: 64)
            for (c, what) in [(seg.category, "category"), (seg.type, "type")] {
                try check(c.value, "segment \(k + 1) \(what) code value", max: 16)
                try check(c.scheme, "segment \(k + 1) \(what) coding scheme", max: 16)
                try check(c.meaning, "segment \(k + 1) \(what) code meaning", max: 64)
            }
            if seg.algorithmType != .manual {
                guard let name = seg.algorithmName else {
                    throw MedicalIOError.invalidArgument("segmentation: segment \(k + 1) needs an algorithm name (\(seg.algorithmType.rawValue))")
                }
                try check(name, "segment \(k + 1) algorithm name", max: 64)
            }
        }
    }

    /// The (segment number, source frame index) of every frame written, in order.
    public func frameList() -> [(segment: Int, frame: Int)] {
        let plane = source.rows * source.columns
        var out = [(segment: Int, frame: Int)]()
        for (k, seg) in segments.enumerated() {
            var any = false
            for f in source.frames.indices where seg.mask[(f * plane)..<((f + 1) * plane)].contains(where: { $0 != 0 }) {
                out.append((k + 1, f)); any = true
            }
            if !any { out.append((k + 1, 0)) }
        }
        return out
    }

    /// The Part 10 file bytes.
    /// - Throws: ``MedicalIOError`` for masks that do not match the source, bad labels or codes, or values too long.
    public func encode() throws -> Data {
        try validate()
        let s = source, id = s.identity
        let plane = s.rows * s.columns
        let frames = frameList()
        let spatial = s.isSpatial
        let seriesUID = seriesInstanceUID ?? DICOMDataSetWriter.newUID()
        let instanceUID = sopInstanceUID ?? DICOMDataSetWriter.newUID()
        let dimensionUID = DICOMDataSetWriter.newUID()
        let (day, time) = Self.dateTime(date)

        // Position index: rank of each source frame's position along the slice normal (equal positions share one).
        var positionIndex = [Int](repeating: 1, count: s.frames.count)
        if spatial, let o = s.imageOrientation {
            let nrm = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
            let d = s.frames.map { f in (0..<3).reduce(0.0) { $0 + (f.imagePosition?[$1] ?? 0) * nrm[$1] } }
            let distinct = Array(Set(d)).sorted()
            positionIndex = d.map { v in (distinct.firstIndex(of: v) ?? 0) + 1 }
        }

        var ds: [DICOMElement] = []
        func add(_ tag: UInt32, _ vr: String, _ v: String?) { ds.append(.text(tag, vr, v ?? "")) }
        let texts = [id.patientName, id.patientID, id.studyDescription, id.referringPhysicianName, id.positionReferenceIndicator]
            + segments.map(\.label) + [seriesDescription, contentDescription, manufacturer]
        if texts.contains(where: { $0?.utf8.contains { $0 >= 0x80 } ?? false }) { add(0x0008_0005, "CS", "ISO_IR 192") }
        ds.append(.text(0x0008_0008, "CS", "DERIVED", "PRIMARY"))
        add(0x0008_0012, "DA", day); add(0x0008_0013, "TM", time)
        add(0x0008_0016, "UI", Self.sopClassUID); add(0x0008_0018, "UI", instanceUID)
        add(0x0008_0020, "DA", id.studyDate); add(0x0008_0021, "DA", day)
        add(0x0008_0023, "DA", day)
        add(0x0008_0030, "TM", id.studyTime); add(0x0008_0031, "TM", time)
        add(0x0008_0033, "TM", time)
        add(0x0008_0050, "SH", id.accessionNumber); add(0x0008_0060, "CS", "SEG")
        add(0x0008_0070, "LO", manufacturer); add(0x0008_0090, "PN", id.referringPhysicianName)
        if let d = id.studyDescription { add(0x0008_1030, "LO", d) }
        add(0x0008_103E, "LO", seriesDescription); add(0x0008_1090, "LO", manufacturerModelName)
        // Common Instance Reference: the source series and every instance referenced.
        var instances = [(String, String)]()
        var seen = Set<String>()
        for f in s.frames where seen.insert(f.sopInstanceUID).inserted { instances.append((f.sopClassUID, f.sopInstanceUID)) }
        ds.append(.sequence(0x0008_1115, [[
            .sequence(0x0008_114A, instances.map { [.text(0x0008_1150, "UI", $0.0), .text(0x0008_1155, "UI", $0.1)] }),
            .text(0x0020_000E, "UI", id.seriesInstanceUID ?? ""),
        ]]))
        add(0x0010_0010, "PN", id.patientName); add(0x0010_0020, "LO", id.patientID)
        add(0x0010_0030, "DA", id.patientBirthDate); add(0x0010_0040, "CS", id.patientSex)
        add(0x0018_1000, "LO", deviceSerialNumber); add(0x0018_1020, "LO", softwareVersions)
        add(0x0020_000D, "UI", id.studyInstanceUID); add(0x0020_000E, "UI", seriesUID)
        add(0x0020_0010, "SH", id.studyID); add(0x0020_0011, "IS", String(seriesNumber)); add(0x0020_0013, "IS", String(instanceNumber))
        if spatial {
            add(0x0020_0052, "UI", id.frameOfReferenceUID); add(0x0020_1040, "LO", id.positionReferenceIndicator)
        } else {
            add(0x0020_0020, "CS", id.patientOrientation)  // General Image: Type 2C without Image Orientation
        }
        // Multi-frame Dimension: segment number, then (spatial sources) the plane position.
        ds.append(.sequence(0x0020_9221, [[.text(0x0020_9164, "UI", dimensionUID)]]))
        var dimensions: [[DICOMElement]] = [[
            .text(0x0020_9164, "UI", dimensionUID), .at(0x0020_9165, [0x0062_000B]), .at(0x0020_9167, [0x0062_000A]),
            .text(0x0020_9421, "LO", "ReferencedSegmentNumber"),
        ]]
        if spatial {
            dimensions.append([.text(0x0020_9164, "UI", dimensionUID), .at(0x0020_9165, [0x0020_0032]), .at(0x0020_9167, [0x0020_9113]),
                               .text(0x0020_9421, "LO", "ImagePositionPatient")])
        }
        ds.append(.sequence(0x0020_9222, dimensions))
        ds.append(.us(0x0028_0002, [1])); add(0x0028_0004, "CS", "MONOCHROME2")
        add(0x0028_0008, "IS", String(frames.count))
        ds.append(.us(0x0028_0010, [s.rows])); ds.append(.us(0x0028_0011, [s.columns]))
        ds.append(.us(0x0028_0100, [1])); ds.append(.us(0x0028_0101, [1])); ds.append(.us(0x0028_0102, [0]))
        ds.append(.us(0x0028_0103, [0]))
        add(0x0028_2110, "CS", id.lossyImageCompression == "01" ? "01" : "00")
        add(0x0062_0001, "CS", "BINARY")
        ds.append(.sequence(0x0062_0002, segments.enumerated().map { k, seg in
            var item: [DICOMElement] = [
                .sequence(0x0062_0003, [seg.category.item]), .us(0x0062_0004, [k + 1]), .text(0x0062_0005, "LO", seg.label),
                .text(0x0062_0008, "CS", seg.algorithmType.rawValue), .sequence(0x0062_000F, [seg.type.item]),
            ]
            if seg.algorithmType != .manual, let name = seg.algorithmName { item.append(.text(0x0062_0009, "LO", name)) }
            return item
        }))
        add(0x0070_0080, "CS", contentLabel); add(0x0070_0081, "LO", contentDescription); add(0x0070_0084, "PN", "")
        // Shared functional groups (spatial sources): pixel measures and plane orientation. A source without a frame
        // of reference (secondary capture) has no patient geometry to repeat.
        var measures: [DICOMElement] = []
        if spatial, let ps = s.pixelSpacing, ps.count == 2 { measures.append(.decimals(0x0028_0030, ps)) }
        if spatial, let t = s.sliceThickness { measures.append(.decimals(0x0018_0050, [t])) }
        var shared: [DICOMElement] = []
        if !measures.isEmpty { shared.append(.sequence(0x0028_9110, [measures])) }
        if spatial, let o = s.imageOrientation { shared.append(.sequence(0x0020_9116, [[.decimals(0x0020_0037, o)]])) }
        ds.append(.sequence(0x5200_9229, [shared]))
        // Per-frame functional groups.
        ds.append(.sequence(0x5200_9230, frames.map { segment, f in
            let src = s.frames[f]
            var ref: [DICOMElement] = [
                .text(0x0008_1150, "UI", src.sopClassUID), .text(0x0008_1155, "UI", src.sopInstanceUID),
                .text(0x0028_135A, "CS", "YES"), .sequence(0x0040_A170, [DICOMCode.sourceImage.item]),
            ]
            if let n = src.frameNumber { ref.append(.text(0x0008_1160, "IS", String(n))) }
            var item: [DICOMElement] = [
                .sequence(0x0008_9124, [[.sequence(0x0008_2112, [ref]), .sequence(0x0008_9215, [DICOMCode.segmentation.item])]]),
                .sequence(0x0020_9111, [[.ul(0x0020_9157, spatial ? [segment, positionIndex[f]] : [segment])]]),
                .sequence(0x0062_000A, [[.us(0x0062_000B, [segment])]]),
            ]
            if spatial, let p = src.imagePosition { item.append(.sequence(0x0020_9113, [[.decimals(0x0020_0032, p)]])) }
            return item
        }))
        // Pixel Data: the frames' bits back to back, least significant bit first.
        var bits = [UInt8](repeating: 0, count: (frames.count * plane + 7) / 8)
        for (j, (segment, f)) in frames.enumerated() {
            let mask = segments[segment - 1].mask
            let base = j * plane
            for i in 0..<plane where mask[f * plane + i] != 0 {
                let b = base + i
                bits[b >> 3] |= UInt8(1) << UInt8(b & 7)
            }
        }
        ds.append(.bytes(0x7FE0_0010, "OB", bits))
        return Data(try DICOMDataSetWriter.file(sopClassUID: Self.sopClassUID, sopInstanceUID: instanceUID, dataSet: ds,
                                                file: "segmentation"))
    }

    /// Writes the file.
    /// - Throws: ``MedicalIOError``.
    public func write(to url: URL) throws {
        try writeFile(try encode(), to: url)
    }

    /// DA and TM values (UTC) of `date`.
    static func dateTime(_ date: Date) -> (String, String) {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ v: Int?) -> String { String(format: "%02d", v ?? 0) }
        return (String(format: "%04d", c.year ?? 1970) + two(c.month) + two(c.day), two(c.hour) + two(c.minute) + two(c.second))
    }
}
