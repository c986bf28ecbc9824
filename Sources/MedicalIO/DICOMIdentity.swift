import Foundation

/// Who and what a DICOM image is: its SOP Class / Instance, study, series and frame of reference UIDs and the
/// Patient and General Study attributes that an object derived from it (a DICOM Segmentation) must repeat.
///
/// Text values are decoded by the file's Specific Character Set (ISO_IR 100 as Latin-1, ISO_IR 192 and the
/// default repertoire as UTF-8); absent or empty attributes are nil. Values are kept as stored (not checked
/// against their VR), at most 1024 bytes each.
public struct DICOMIdentity: Sendable, Hashable {
    /// SOP Class UID (0008,0016) and SOP Instance UID (0008,0018).
    public var sopClassUID: String?, sopInstanceUID: String?
    /// Study Instance UID (0020,000D), Series Instance UID (0020,000E).
    public var studyInstanceUID: String?, seriesInstanceUID: String?
    /// Frame of Reference UID (0020,0052) and Position Reference Indicator (0020,1040).
    public var frameOfReferenceUID: String?, positionReferenceIndicator: String?
    /// Patient module: Patient's Name (0010,0010), Patient ID (0010,0020), Birth Date (0010,0030), Sex (0010,0040).
    public var patientName: String?, patientID: String?, patientBirthDate: String?, patientSex: String?
    /// General Study module: Study Date / Time (0008,0020 / 0030), Study ID (0020,0010), Accession Number (0008,0050),
    /// Referring Physician's Name (0008,0090), Study Description (0008,1030).
    public var studyDate: String?, studyTime: String?, studyID: String?, accessionNumber: String?
    public var referringPhysicianName: String?, studyDescription: String?
    /// Lossy Image Compression (0028,2110): `01` when the pixels were lossy compressed at some point.
    public var lossyImageCompression: String?
    /// Patient Orientation (0020,0020), e.g. `L\P` (the `\`-separated values as stored).
    public var patientOrientation: String?

    public init() {}

    static var tags: [(UInt32, WritableKeyPath<DICOMIdentity, String?>)] { [
        (0x0008_0016, \.sopClassUID), (0x0008_0018, \.sopInstanceUID), (0x0020_000D, \.studyInstanceUID),
        (0x0020_000E, \.seriesInstanceUID), (0x0020_0052, \.frameOfReferenceUID), (0x0020_1040, \.positionReferenceIndicator),
        (0x0010_0010, \.patientName), (0x0010_0020, \.patientID), (0x0010_0030, \.patientBirthDate), (0x0010_0040, \.patientSex),
        (0x0008_0020, \.studyDate), (0x0008_0030, \.studyTime), (0x0020_0010, \.studyID), (0x0008_0050, \.accessionNumber),
        (0x0008_0090, \.referringPhysicianName), (0x0008_1030, \.studyDescription), (0x0028_2110, \.lossyImageCompression),
        (0x0020_0020, \.patientOrientation),
    ] }

    /// Reads the attributes of one parsed data set. Descriptive only: a malformed value is left out, never an error.
    init(_ a: DICOMAttributes) {
        let charset = ((try? a.string(0x0008_0005)) ?? nil).map { DICOMValues.components($0) } ?? []
        let latin1 = charset.contains("ISO_IR 100")
        for (tag, path) in Self.tags {
            guard let e = a.ds[tag], e.length != DICOMParser.undefined, e.length > 0,
                  let raw = try? a.parser.r.slice(e.offset, Swift.min(e.length, 1024)) else { continue }
            let decoded = latin1 ? String(bytes: raw, encoding: .isoLatin1) : String(decoding: raw, as: UTF8.self)
            let s = (decoded ?? "").trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
            if !s.isEmpty { self[keyPath: path] = s }
        }
    }
}
