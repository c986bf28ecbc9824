/// A 3-D box `[x_min, y_min, z_min, x_max, y_max, z_max]` in voxels (the CVPR24 challenge's `boxes` row, z maximum
/// inclusive), in the axes of ``Volume`` (x = column, y = row, z = slice).
public struct Box3D: Sendable, Hashable, CustomStringConvertible {
    public var x0: Int, y0: Int, z0: Int, x1: Int, y1: Int, z1: Int
    public init(x0: Int, y0: Int, z0: Int, x1: Int, y1: Int, z1: Int) {
        self.x0 = x0; self.y0 = y0; self.z0 = z0; self.x1 = x1; self.y1 = y1; self.z1 = z1
    }
    public var description: String { "[\(x0), \(y0), \(z0), \(x1), \(y1), \(z1)]" }
}

extension Box3D {
    /// The box from six numbers `[x0, y0, z0, x1, y1, z1]` (e.g. a challenge file's float row), truncated toward
    /// zero like numpy's `astype(int)`; nil when a value is not finite or beyond ±2³¹.
    public init?(truncating v: [Double]) {
        guard v.count == 6, v.allSatisfy({ $0.isFinite && abs($0) < 2_147_483_648 }) else { return nil }
        self.init(x0: Int(v[0]), y0: Int(v[1]), z0: Int(v[2]), x1: Int(v[3]), y1: Int(v[4]), z1: Int(v[5]))
    }
}
