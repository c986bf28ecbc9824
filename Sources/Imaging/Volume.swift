import Foundation

/// The package's one volume type: a 3-D (optionally 4-D) scalar volume, `voxels[x + width·(y + height·(z + depth·t))]`,
/// i.e. x varies fastest (NIfTI and DICOM storage order; numpy's C order of a `(frames, depth, height, width)` array),
/// values in the data's units (readers apply the format's rescaling). Slice `z` is an ``Image`` with row = y and
/// column = x. The models take 0…255 volumes (window raw CT/MR values first, ``IntensityWindow``).
///
/// ```swift
/// let vol = try DICOMSeries.read(folder).volume
/// let mid = try vol.slice(z: vol.depth / 2)      // Image: row = y, column = x
/// ```
public struct Volume: Sendable {
    public let width: Int, height: Int, depth: Int
    /// Number of 3-D frames (NIfTI `dim[4]`, 1 for 3-D data).
    public let frames: Int
    /// Voxel size in mm along x, y, z.
    public let spacing: [Double]
    /// The voxel values in their stored type (``PixelStorage``).
    public let storage: PixelStorage
    /// The type the stored values came from (`.float32` once a scaling was applied).
    public let pixelType: PixelType

    /// The voxel values as `Float` (a new array each time: bind it once).
    public var voxels: [Float] { storage.floats() }

    /// Bytes of memory the voxel values hold.
    public var byteCount: Int { storage.byteCount }

    /// - Throws: ``ImagingError`` for empty or overflowing dimensions, a wrong voxel count or bad spacing.
    /// The values are packed into the smallest integer type that holds them exactly (see ``PixelStorage``).
    public init(width: Int, height: Int, depth: Int, frames: Int = 1, spacing: [Double] = [1, 1, 1],
                voxels: [Float], pixelType: PixelType) throws {
        try self.init(width: width, height: height, depth: depth, frames: frames, spacing: spacing,
                      storage: PixelStorage(packing: voxels), pixelType: pixelType)
    }

    /// Keeps `storage` as it is.
    /// - Throws: ``ImagingError`` for empty or overflowing dimensions, a wrong voxel count or bad spacing.
    public init(width: Int, height: Int, depth: Int, frames: Int = 1, spacing: [Double] = [1, 1, 1],
                storage: PixelStorage, pixelType: PixelType) throws {
        guard width > 0, height > 0, depth > 0, frames > 0 else { throw ImagingError.emptyImage }
        // Overflowing dimensions (hostile headers) are reported as expected = Int.max.
        let (wh, o1) = width.multipliedReportingOverflow(by: height)
        let (whd, o2) = wh.multipliedReportingOverflow(by: depth)
        let (total, o3) = whd.multipliedReportingOverflow(by: frames)
        guard !o1, !o2, !o3, storage.count == total else {
            throw ImagingError.wrongPixelCount(expected: o1 || o2 || o3 ? Int.max : total, got: storage.count)
        }
        guard spacing.count == 3, spacing.allSatisfy(\.isFinite) else {
            throw ImagingError.wrongShape(expected: "3 finite spacings (x, y, z)", got: [spacing.count])
        }
        self.width = width; self.height = height; self.depth = depth; self.frames = frames
        self.spacing = spacing; self.storage = storage; self.pixelType = pixelType
    }

    /// An 8-bit volume (e.g. windowed), `voxels` in the same order: x fastest, then y, then z.
    /// - Throws: ``ImagingError`` for empty or overflowing dimensions or a wrong voxel count.
    public init(uint8 voxels: [UInt8], width: Int, height: Int, depth: Int, spacing: [Double] = [1, 1, 1]) throws {
        try self.init(width: width, height: height, depth: depth, spacing: spacing, storage: PixelStorage(uint8: voxels),
                      pixelType: .uint8)
    }

    /// Voxel value at (x, y, z, t).
    public subscript(x: Int, y: Int, z: Int, t: Int = 0) -> Float {
        storage[x + width * (y + height * (z + depth * t))]
    }

    /// Slice `z` in storage order: row = y, column = x (for DICOM: the image as acquired, first row at top).
    /// - Throws: ``ImagingError/wrongShape(expected:got:)`` when `z` or `t` is outside the volume.
    public func slice(z: Int, t: Int = 0) throws -> Image {
        guard (0..<depth).contains(z), (0..<frames).contains(t) else {
            throw ImagingError.wrongShape(expected: "slice 0..<\(depth), frame 0..<\(frames)", got: [z, t])
        }
        let start = width * height * (z + depth * t)
        return try Image(storage: storage.slice(start..<(start + width * height)), width: width, height: height,
                         channels: 1, pixelType: pixelType)
    }
}

