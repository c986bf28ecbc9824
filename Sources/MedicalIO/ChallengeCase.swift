import Foundation
import Imaging

/// One case of the CVPR 2024 "Segment Anything in Medical Images on Laptop" challenge (`.npz`):
/// `imgs` — 2-D: `(H, W, 3)` uint8 (or `(H, W)` gray), 3-D: `(D, H, W)` uint8; `boxes` — `(N, 4)`
/// `[x_min, y_min, x_max, y_max]` or `(N, 6)` `[x_min, y_min, z_min, x_max, y_max, z_max]`; optional
/// `spacing` and `gts`.
///
/// **2-D or 3-D** (``is3D``), as in the reference `CVPR24_LiteMedSAM_infer.py`, which dispatches on the file
/// name: a name starting with `"3D"` is 3-D, any other name 2-D. For in-memory data or renamed files the
/// shape decides when the name does not start with "2D"/"3D": rank 3 whose last axis is not 3 is 3-D.
///
/// ```swift
/// let c = try ChallengeCase.read(URL(fileURLWithPath: "3DBox_MR_0001.npz"))
/// if c.is3D { let boxes = try c.boxes3D() } else { let img = try c.image2D(); let boxes = try c.boxes2D() }
/// try ChallengeCase.writeSegmentation(labels, shape: c.imgs.shape, to: outURL)   // segs=…
/// ```
public struct ChallengeCase: Sendable {
    public let name: String
    public let imgs: NPYArray
    public let boxes: NPYArray
    public let spacing: [Double]?
    public let gts: NPYArray?
    public let is3D: Bool

    /// The rule above, for a file name and the `imgs` shape.
    public static func is3D(name: String, imgsShape: [Int]) -> Bool {
        if name.hasPrefix("3D") { return true }
        if name.hasPrefix("2D") { return false }
        return imgsShape.count == 3 && imgsShape[2] != 3
    }

    public static func read(_ url: URL, limits: MedicalIOLimits = .default) throws -> ChallengeCase {
        let file = fileLabel(url)
        let npz = try NPZArchive.read(url, limits: limits)
        return try ChallengeCase(npz, name: file)
    }

    /// Validates the arrays of an already-read archive.
    public init(_ npz: NPZArchive, name: String) throws {
        let file = name
        let imgs = try npz.array("imgs", file: file)
        let boxes = try npz.array("boxes", file: file)
        self.name = name
        self.imgs = imgs
        self.boxes = boxes
        self.is3D = Self.is3D(name: name, imgsShape: imgs.shape)
        if is3D {
            guard imgs.shape.count == 3 else { throw MedicalIOError.invalidHeader(file: file, message: "3-D imgs must be (D, H, W), got \(imgs.shape)") }
        } else {
            guard imgs.shape.count == 2 || (imgs.shape.count == 3 && imgs.shape[2] == 3) else {
                throw MedicalIOError.invalidHeader(file: file, message: "2-D imgs must be (H, W, 3) or (H, W), got \(imgs.shape)")
            }
        }
        let width = is3D ? 6 : 4
        guard (boxes.shape.count == 2 && boxes.shape[1] == width) || boxes.shape == [width] else {
            throw MedicalIOError.invalidHeader(file: file, message: "boxes must be (N, \(width)), got \(boxes.shape)")
        }
        spacing = npz["spacing"]?.doubles()
        if let g = npz["gts"] {
            let want = is3D || imgs.shape.count == 2 ? imgs.shape : Array(imgs.shape.prefix(2))
            guard g.shape == want else { throw MedicalIOError.invalidHeader(file: file, message: "gts shape \(g.shape) ≠ \(want)") }
        }
        gts = npz["gts"]
    }

    /// The 2-D image as uint8 `Image` (3 channels; a gray `(H, W)` image is repeated like the reference).
    public func image2D() throws -> Image {
        guard !is3D else { throw MedicalIOError.invalidArgument("\(name) is 3-D; use slice(_:)") }
        let px = try imgs.uint8s()
        let img = try Image(uint8: px, width: imgs.shape[1], height: imgs.shape[0], channels: imgs.shape.count == 3 ? 3 : 1)
        return img.threeChannel()
    }

    /// Slice `z` of a 3-D case, 1 channel uint8 (rows = H, columns = W).
    public func slice(_ z: Int) throws -> Image {
        guard is3D, (0..<imgs.shape[0]).contains(z) else { throw MedicalIOError.invalidArgument("\(name): no slice \(z)") }
        let hw = imgs.shape[1] * imgs.shape[2]
        let vals = (0..<hw).map { Float(imgs.double(at: z * hw + $0)) }
        return try Image(pixels: vals, width: imgs.shape[2], height: imgs.shape[1], channels: 1, pixelType: .uint8)
    }

    public func boxes2D() throws -> [Box] {
        guard !is3D else { throw MedicalIOError.invalidArgument("\(name) is 3-D; use boxes3D()") }
        let v = boxes.doubles()
        return stride(from: 0, to: v.count, by: 4).map { Box(x0: v[$0], y0: v[$0 + 1], x1: v[$0 + 2], y1: v[$0 + 3]) }
    }

    public func boxes3D() throws -> [Box3D] {
        guard is3D else { throw MedicalIOError.invalidArgument("\(name) is 2-D; use boxes2D()") }
        let v = boxes.doubles()
        return try stride(from: 0, to: v.count - v.count % 6, by: 6).map { i in
            guard let b = Box3D(truncating: Array(v[i..<(i + 6)])) else {
                throw MedicalIOError.invalidArgument("\(name): 3-D box \(i / 6) \(Array(v[i..<(i + 6)])) is not finite or out of range")
            }
            return b
        }
    }

    /// The `segs` array the reference writes: uint8 labels (0 = background, box i → i + 1), or uint16
    /// when a label exceeds 255. `shape` is `(H, W)` for 2-D and `(D, H, W)` for 3-D.
    public static func segmentationArray(_ labels: [Int], shape: [Int]) throws -> NPYArray {
        guard labels.count == shape.reduce(1, *) else {
            throw MedicalIOError.invalidArgument("segs: shape \(shape) needs \(shape.reduce(1, *)) labels, got \(labels.count)")
        }
        guard let lo = labels.min(), let hi = labels.max(), lo >= 0, hi <= 65535 else {
            throw MedicalIOError.invalidArgument("segs: labels must be in 0…65535")
        }
        return hi <= 255 ? try NPYArray(shape: shape, uint8: labels.map { UInt8($0) })
                         : try NPYArray(shape: shape, uint16: labels.map { UInt16($0) })
    }

    /// `np.savez_compressed(url, segs=segs)`.
    public static func writeSegmentation(_ labels: [Int], shape: [Int], to url: URL) throws {
        try NPZArchive.write([("segs", segmentationArray(labels, shape: shape))], to: url, compressed: true)
    }
}
