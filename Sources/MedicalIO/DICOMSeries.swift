import Foundation

/// A DICOM series read from a folder: the files of one `SeriesInstanceUID`, sorted by position along the
/// slice normal (`ImageOrientationPatient` row × column direction, dotted with `ImagePositionPatient`),
/// falling back to `InstanceNumber` when positions or orientation are missing.
///
/// Files that are not DICOM (or cannot be parsed) are skipped and listed in ``skipped``. With several
/// series in the folder, pass `seriesUID`, or the series with most files is taken (all are in ``seriesUIDs``).
///
/// ```swift
/// let series = try DICOMSeries.read(URL(fileURLWithPath: "/data/CT"))
/// let vol = series.volume            // x = column, y = row, z = sorted slice; spacing [col, row, slice] mm
/// ```
public struct DICOMSeries: Sendable {
    public let seriesUID: String
    public let seriesUIDs: [String]
    /// Sorted slices.
    public let slices: [DICOMImage]
    public let files: [URL]
    public let skipped: [(URL, String)]
    public let volume: Volume

    public static func read(_ folder: URL, seriesUID: String? = nil, limits: MedicalIOLimits = .default) throws -> DICOMSeries {
        let name = fileLabel(folder)
        let urls: [URL]
        do {
            urls = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
                .filter { !$0.hasDirectoryPath }.sorted { $0.path < $1.path }
        } catch { throw MedicalIOError.io(file: name, message: "cannot list folder: \(error.localizedDescription)") }
        var parsed = [(URL, DICOMImage)]()
        var skipped = [(URL, String)]()
        for u in urls {
            do { parsed.append((u, try DICOMImage.read(u, limits: limits))) } catch { skipped.append((u, "\(error)")) }
        }
        var groups = [String: [(URL, DICOMImage)]]()
        for item in parsed { groups[item.1.seriesInstanceUID ?? "", default: []].append(item) }
        let uids = groups.keys.sorted()
        guard !groups.isEmpty else { throw MedicalIOError.missing(file: name, what: "readable DICOM files (\(skipped.count) skipped)") }
        let uid: String
        if let s = seriesUID {
            guard groups[s] != nil else { throw MedicalIOError.missing(file: name, what: "series \(s) (has \(uids))") }
            uid = s
        } else {
            uid = uids.max { (groups[$0]?.count ?? 0, $1) < (groups[$1]?.count ?? 0, $0) } ?? uids[0]
        }
        var items = groups[uid] ?? []
        guard let first = items.first?.1 else { throw MedicalIOError.missing(file: name, what: "slices of series \(uid)") }
        for (u, d) in items where d.rows != first.rows || d.columns != first.columns || d.samplesPerPixel != 1 || d.numberOfFrames != 1 {
            throw MedicalIOError.invalidArgument("\(name): \(u.lastPathComponent) is \(d.rows)×\(d.columns)×\(d.samplesPerPixel), \(d.numberOfFrames) frames; a series needs equal single-frame gray slices")
        }
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
        let rescaled = items.contains { $0.1.rescaleSlope != 1 || $0.1.rescaleIntercept != 0 }
        let vol = try Volume(width: first.columns, height: first.rows, depth: items.count,
                             spacing: [ps.count > 1 ? ps[1] : ps[0], ps[0], dz], voxels: voxels,
                             pixelType: rescaled ? .float32 : first.storedType)
        return DICOMSeries(seriesUID: uid, seriesUIDs: uids, slices: items.map(\.1), files: items.map(\.0),
                           skipped: skipped, volume: vol)
    }
}

extension DICOMImage {
    /// A multi-frame image as a ``Volume`` (frames along z; spacing from PixelSpacing and SliceThickness).
    public func volume() throws -> Volume {
        guard samplesPerPixel == 1 else { throw MedicalIOError.invalidArgument("volume() needs 1 sample per pixel") }
        let ps = pixelSpacing ?? [1, 1]
        let rescaled = rescaleSlope != 1 || rescaleIntercept != 0
        return try Volume(width: columns, height: rows, depth: numberOfFrames,
                          spacing: [ps.count > 1 ? ps[1] : ps[0], ps[0], sliceThickness ?? 1], voxels: pixels,
                          pixelType: rescaled ? .float32 : storedType)
    }
}
