import Foundation
import Imaging

/// A DICOM series read from a folder: the files of one `SeriesInstanceUID`, sorted by position along the
/// slice normal (`ImageOrientationPatient` row × column direction, dotted with `ImagePositionPatient`),
/// falling back to `InstanceNumber` when positions or orientation are missing.
///
/// Files that are not DICOM (or cannot be parsed, e.g. a hostile header) are skipped and listed in ``skipped``
/// with the reason; the rest still loads. With several series in the folder, pass `seriesUID`, or the series
/// with the most slices is taken (ties: the smallest UID); all are listed in ``series``. Within the series,
/// slices whose orientation differs from the majority's (localizers, non-parallel slices), whose size differs
/// or that are multi-frame or colour are left out and listed in ``excluded``; they are never stacked.
///
/// ```swift
/// let series = try DICOMSeries.read(URL(fileURLWithPath: "/data/CT"))
/// let vol = series.volume            // x = column, y = row, z = sorted slice; spacing [col, row, slice] mm
/// for line in series.messages { print(line) }
/// ```
public struct DICOMSeries: Sendable {
    /// One series found in the folder.
    public struct Summary: Sendable, Hashable {
        public let uid: String
        public let files: Int
        public let modality: String?
        public let rows: Int, columns: Int
    }

    public let seriesUID: String
    public let seriesUIDs: [String]
    /// Every series in the folder, most files first.
    public let series: [Summary]
    /// Sorted slices.
    public let slices: [DICOMImage]
    public let files: [URL]
    /// Files that could not be read, with the reason.
    public let skipped: [(URL, String)]
    /// Files of the chosen series left out of the volume, with the reason (other orientation, size, …).
    public let excluded: [(URL, String)]
    public let volume: Volume
    /// The volume's values in Double when a slice's ``DICOMImage/exactValues`` is set (Float not exact), else nil.
    public let exactVoxels: [Double]?

    /// What a command-line tool should tell the user: the series chosen (and the others), skipped and excluded files.
    public var messages: [String] {
        var out = [String]()
        if series.count > 1 {
            out.append("series \(seriesUID) (\(slices.count) slices) of \(series.count) in the folder; choose with --series UID:")
            for s in series { out.append("  \(s.uid): \(s.files) files, \(s.modality ?? "?") \(s.columns)×\(s.rows)") }
        }
        for (u, why) in excluded { out.append("excluded \(u.lastPathComponent): \(why)") }
        for (u, why) in skipped { out.append("skipped \(u.lastPathComponent): \(why)") }
        return out
    }

    /// Reads the series.
    /// - Throws: ``MedicalIOError`` when the folder cannot be listed, holds no readable DICOM, `seriesUID` is not
    ///   in it, or no slice of the series is left.
    public static func read(_ folder: URL, seriesUID: String? = nil, limits: MedicalIOLimits = .default) throws -> DICOMSeries {
        let name = fileLabel(folder)
        let urls: [URL]
        do {
            urls = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
                .filter { !$0.hasDirectoryPath && !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
        } catch { throw MedicalIOError.io(file: name, message: "cannot list folder: \(error.localizedDescription)") }
        var parsed = [(URL, DICOMImage)]()
        var skipped = [(URL, String)]()
        for u in urls {
            do { parsed.append((u, try DICOMImage.read(u, limits: limits))) } catch { skipped.append((u, "\(error)")) }
        }
        var groups = [String: [(URL, DICOMImage)]]()
        for item in parsed { groups[item.1.seriesInstanceUID ?? "", default: []].append(item) }
        guard !groups.isEmpty else { throw MedicalIOError.missing(file: name, what: "readable DICOM files (\(skipped.count) skipped)") }
        let summaries = groups.map { uid, items in
            Summary(uid: uid, files: items.count, modality: items[0].1.modality, rows: items[0].1.rows, columns: items[0].1.columns)
        }.sorted { ($0.files, $1.uid) > ($1.files, $0.uid) }
        let uids = groups.keys.sorted()
        let uid: String
        if let s = seriesUID {
            guard groups[s] != nil else { throw MedicalIOError.missing(file: name, what: "series \(s) (the folder has \(uids.joined(separator: ", ")))") }
            uid = s
        } else {
            uid = summaries[0].uid
        }
        var excluded = [(URL, String)]()
        var items = [(URL, DICOMImage)]()
        for (u, d) in groups[uid] ?? [] {
            if d.samplesPerPixel != 1 || d.numberOfFrames != 1 {
                excluded.append((u, "\(d.numberOfFrames) frames × \(d.samplesPerPixel) samples; a series volume needs single-frame gray slices"))
            } else { items.append((u, d)) }
        }
        // The majority size and orientation (rounded to 1e-4) define the volume; other slices are excluded.
        func key(_ d: DICOMImage) -> String {
            let o = d.imageOrientation.map { $0.map { String(Int(($0 * 1e4).rounded())) }.joined(separator: ",") } ?? "none"
            return "\(d.rows)x\(d.columns) \(o)"
        }
        var counts = [String: Int]()
        for (_, d) in items { counts[key(d), default: 0] += 1 }
        guard let major = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key else {
            throw MedicalIOError.missing(file: name, what: "single-frame gray slices in series \(uid)")
        }
        items = items.filter { u, d in
            let k = key(d)
            if k == major { return true }
            excluded.append((u, "\(k) differs from the series' \(major) (localizer or non-parallel slice)"))
            return false
        }
        guard let first = items.first?.1 else { throw MedicalIOError.missing(file: name, what: "slices of series \(uid)") }
        var positions: [Double]? = nil
        if let o = first.imageOrientation, o.count == 6, items.allSatisfy({ $0.1.imagePosition?.count == 3 }) {
            let nrm = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
            let pos = items.map { p in (0..<3).reduce(0.0) { $0 + (p.1.imagePosition?[$1] ?? 0) * nrm[$1] } }
            if Set(pos).count == pos.count { positions = pos }
        }
        if let pos = positions {
            let order = pos.indices.sorted { pos[$0] < pos[$1] }
            items = order.map { items[$0] }
            positions = order.map { pos[$0] }
        } else {
            items.sort { ($0.1.instanceNumber ?? 0, $0.0.path) < ($1.1.instanceNumber ?? 0, $1.0.path) }
        }
        var dz = first.sliceThickness ?? 1
        if let p = positions, p.count > 1 {
            let diffs = zip(p.dropFirst(), p).map { $0 - $1 }.sorted()
            dz = diffs[diffs.count / 2]
        }
        let ps = first.pixelSpacing ?? [1, 1]
        var voxels = [Float](); voxels.reserveCapacity(items.count * first.rows * first.columns)
        for (_, d) in items { voxels += d.pixels }
        let rescaled = items.contains { $0.1.pixelType == .float32 || $0.1.pixelType == .float64 }
        let vol = try Volume(width: first.columns, height: first.rows, depth: items.count,
                             spacing: [ps.count > 1 ? ps[1] : ps[0], ps[0], dz], voxels: voxels,
                             pixelType: rescaled ? .float32 : first.pixelType)
        let exact = items.contains { $0.1.exactValues != nil } ? items.flatMap { $0.1.exactValues ?? $0.1.pixels.map(Double.init) } : nil
        return DICOMSeries(seriesUID: uid, seriesUIDs: uids, series: summaries, slices: items.map(\.1), files: items.map(\.0),
                           skipped: skipped, excluded: excluded, volume: vol, exactVoxels: exact)
    }
}

extension DICOMImage {
    /// A multi-frame image as a ``Volume`` (frames along z; spacing from PixelSpacing and SliceThickness, or
    /// the median distance between the Enhanced per-frame positions along the slice normal).
    /// - Throws: ``MedicalIOError/invalidArgument(_:)`` for colour images.
    public func volume() throws -> Volume {
        guard samplesPerPixel == 1 else { throw MedicalIOError.invalidArgument("volume() needs 1 sample per pixel") }
        let ps = pixelSpacing ?? [1, 1]
        var dz = sliceThickness ?? 1
        if perFrame.count > 1, let o = imageOrientation, o.count == 6, perFrame.allSatisfy({ $0.imagePosition?.count == 3 }) {
            let nrm = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
            let pos = perFrame.map { f in (0..<3).reduce(0.0) { $0 + (f.imagePosition?[$1] ?? 0) * nrm[$1] } }
            let diffs = zip(pos.dropFirst(), pos).map { Swift.abs($0 - $1) }.sorted()
            if let m = diffs.isEmpty ? nil : diffs[diffs.count / 2], m > 0 { dz = m }
        }
        return try Volume(width: columns, height: rows, depth: numberOfFrames,
                          spacing: [ps.count > 1 ? ps[1] : ps[0], ps[0], dz], voxels: pixels, pixelType: pixelType)
    }
}
