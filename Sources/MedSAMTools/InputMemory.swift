import Imaging
import MedicalIO

extension ImageSource {
    /// Bytes of memory the opened input holds: its decoded values in their stored types (``PixelStorage``), the
    /// exact Double copies a reader keeps where Float is not exact, and the raw arrays of a challenge case.
    /// `medsam serve` counts this against its memory budget.
    public var storedBytes: Int {
        func dicom(_ d: DICOMImage) -> Int { d.storage.byteCount + (d.exactValues?.count ?? 0) * 8 }
        func challenge(_ c: ChallengeCase) -> Int { c.imgs.rawBytes.count + c.boxes.rawBytes.count + (c.gts?.rawBytes.count ?? 0) }
        switch content {
        case .image(let img): return img.byteCount
        case .challenge2D(let c, let img): return challenge(c) + img.byteCount
        case .challenge3D(let c, let v): return challenge(c) + v.byteCount
        case .nifti(let n): return n.volume.byteCount + n.headerBytes.count
        case .dicom(let d): return dicom(d)
        case .dicomSeries(let s):
            return s.volume.byteCount + (s.exactVoxels?.count ?? 0) * 8 + s.slices.reduce(0) { $0 + dicom($1) }
        case .spatial(let v): return v.volume.byteCount + (v.exactVoxels?.count ?? 0) * 8
        }
    }
}
