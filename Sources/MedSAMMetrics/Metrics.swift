import Foundation

/// A label map: 2-D (H, W) or 3-D (D, H, W), row-major, 0 = background.
public struct LabelVolume: Sendable, Hashable {
    public let shape: [Int]
    public let labels: [Int32]

    public init(_ labels: [Int32], shape: [Int]) {
        precondition(shape.count == 2 || shape.count == 3, "label volumes are (H, W) or (D, H, W), got \(shape)")
        precondition(shape.reduce(1, *) == labels.count, "\(labels.count) labels for shape \(shape)")
        self.shape = shape
        self.labels = labels
    }
    public init(_ labels: [UInt16], shape: [Int]) { self.init(labels.map { Int32($0) }, shape: shape) }
    public init(_ labels: [UInt8], shape: [Int]) { self.init(labels.map { Int32($0) }, shape: shape) }

    /// `gt.max()` (0 for an empty volume).
    public var maxLabel: Int32 { labels.max() ?? 0 }
}

/// Surfels of two masks with their areas and the distance to the other mask's surface
/// (DeepMind `compute_surface_distances`, unsorted).
public struct SurfaceDistances: Sendable {
    public var distancesGTToPred: [Double]
    public var distancesPredToGT: [Double]
    public var surfelAreasGT: [Double]
    public var surfelAreasPred: [Double]
}

/// Segmentation metrics of the MedSAM / CVPR 2024 challenge evaluation
/// (`evaluation/compute_metrics.py` + `SurfaceDice.py`, DeepMind's surface-distance method).
///
/// - DSC per label `i ∈ 1…gt.max()`: `2|G∩S| / (|G|+|S|)`, NaN when both are empty; the case
///   score is the plain mean over labels (so one NaN makes it NaN).
/// - NSD at tolerance τ (default 2 mm), computed only when the case DSC > 0.2, else 0 (a NaN DSC
///   also gives 0). 2-D label maps are treated as (H, W, 1) volumes with spacing (1, 1, 1), as
///   the reference does (`np.expand_dims(gts, -1)`); 3-D maps use `spacing` per array axis
///   (the reference passes the npz `spacing` unchanged).
/// - Surfels: 2×2×2 neighbour codes (`correlate` with 128…1, zero padding) ∉ {0, 255}; areas
///   from DeepMind's neighbour-code → normals table scaled by the spacing; distances from an exact
///   Euclidean distance transform (Felzenszwalb–Huttenlocher with feature tracking, distances
///   assembled per axis like `scipy.ndimage.distance_transform_edt(sampling=)`).
///   `NSD = (Σ area_gt[d ≤ τ] + Σ area_pred[d ≤ τ]) / (Σ area_gt + Σ area_pred + 1e-12)`.
///
/// ```swift
/// let gt = LabelVolume(gtLabels, shape: [233, 197])
/// let seg = LabelVolume(predLabels, shape: [233, 197])
/// let s = SegmentationMetrics.caseScores(gt: gt, seg: seg)
/// print(s.dsc, s.nsd)
/// ```
public enum SegmentationMetrics {
    /// Result of ``caseScores(gt:seg:spacing:tolerance:)``.
    public struct CaseScores: Sendable {
        public var dsc: Double
        public var nsd: Double
        public var dscPerLabel: [Double]
        /// Empty when NSD was skipped (DSC ≤ 0.2 or NaN).
        public var nsdPerLabel: [Double]
    }

    /// `compute_metrics.py`'s per-case DSC and NSD.
    /// - Parameter spacing: per-axis spacing of a 3-D volume (ignored for 2-D, which uses 1).
    public static func caseScores(gt: LabelVolume, seg: LabelVolume, spacing: [Double]? = nil,
                                  tolerance: Double = 2.0) -> CaseScores {
        precondition(gt.shape == seg.shape, "gt \(gt.shape) and seg \(seg.shape) differ")
        let maxLabel = gt.maxLabel
        var dscs = [Double]()
        if maxLabel >= 1 {
            for i in 1...maxLabel { dscs.append(dice(gt.labels, seg.labels, label: i)) }
        }
        let dsc = dscs.isEmpty ? Double.nan : dscs.reduce(0, +) / Double(dscs.count)
        guard dsc > 0.2 else { return CaseScores(dsc: dsc, nsd: 0, dscPerLabel: dscs, nsdPerLabel: []) }
        let shape3: [Int], sp: [Double]
        if gt.shape.count == 2 {
            shape3 = gt.shape + [1]; sp = [1, 1, 1]
        } else {
            shape3 = gt.shape; sp = spacing ?? [1, 1, 1]
            precondition(sp.count == 3, "3-D spacing needs 3 values")
        }
        var nsds = [Double]()
        for i in 1...maxLabel {
            let g = gt.labels.map { $0 == i }, s = seg.labels.map { $0 == i }
            nsds.append(surfaceDice(surfaceDistances(gt: g, pred: s, shape: shape3, spacing: sp), tolerance: tolerance))
        }
        return CaseScores(dsc: dsc, nsd: nsds.reduce(0, +) / Double(nsds.count), dscPerLabel: dscs, nsdPerLabel: nsds)
    }

    /// Dice of one label; NaN when the label is absent from both.
    public static func dice(_ gt: [Int32], _ seg: [Int32], label: Int32) -> Double {
        var g = 0, s = 0, both = 0
        for k in 0..<gt.count {
            let a = gt[k] == label, b = seg[k] == label
            if a { g += 1 }
            if b { s += 1 }
            if a && b { both += 1 }
        }
        if g + s == 0 { return .nan }
        return 2 * Double(both) / Double(g + s)
    }

    /// `compute_surface_dice_at_tolerance`.
    public static func surfaceDice(_ d: SurfaceDistances, tolerance: Double) -> Double {
        var og = 0.0, op = 0.0, ag = 0.0, ap = 0.0
        for (dist, a) in zip(d.distancesGTToPred, d.surfelAreasGT) { ag += a; if dist <= tolerance { og += a } }
        for (dist, a) in zip(d.distancesPredToGT, d.surfelAreasPred) { ap += a; if dist <= tolerance { op += a } }
        return (og + op) / (ag + ap + 1e-12)
    }

    /// Area of each of the 256 neighbour codes for the given (3-axis) spacing.
    public static func surfaceAreaTable(spacing s: [Double]) -> [Double] {
        var table = [Double](repeating: 0, count: 256)
        var k = 0
        for code in 0..<256 {
            var sum = 0.0
            for _ in 0..<Int(normalCounts[code]) {
                let n0 = Double(normalsTimes8[k]) / 8 * s[1] * s[2]
                let n1 = Double(normalsTimes8[k + 1]) / 8 * s[0] * s[2]
                let n2 = Double(normalsTimes8[k + 2]) / 8 * s[0] * s[1]
                sum += (n0 * n0 + n1 * n1 + n2 * n2).squareRoot()
                k += 3
            }
            table[code] = sum
        }
        return table
    }

    /// DeepMind `compute_surface_distances` on two boolean (D, H, W) masks.
    public static func surfaceDistances(gt: [Bool], pred: [Bool], shape: [Int], spacing: [Double]) -> SurfaceDistances {
        precondition(shape.count == 3 && spacing.count == 3, "3-D shape and spacing expected")
        let (d0, d1, d2) = (shape[0], shape[1], shape[2])
        var lo = [Int.max, Int.max, Int.max], hi = [-1, -1, -1]
        for z in 0..<d0 { for y in 0..<d1 { for x in 0..<d2 {
            let i = (z * d1 + y) * d2 + x
            if gt[i] || pred[i] {
                lo[0] = min(lo[0], z); hi[0] = max(hi[0], z)
                lo[1] = min(lo[1], y); hi[1] = max(hi[1], y)
                lo[2] = min(lo[2], x); hi[2] = max(hi[2], x)
            }
        } } }
        if hi[0] < 0 { return SurfaceDistances(distancesGTToPred: [], distancesPredToGT: [], surfelAreasGT: [], surfelAreasPred: []) }
        // Crop + one zero voxel at the high end of every axis.
        let c = [hi[0] - lo[0] + 2, hi[1] - lo[1] + 2, hi[2] - lo[2] + 2]
        let n = c[0] * c[1] * c[2]
        func crop(_ m: [Bool]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: n)
            for z in 0..<(c[0] - 1) { for y in 0..<(c[1] - 1) { for x in 0..<(c[2] - 1) {
                if m[((z + lo[0]) * d1 + y + lo[1]) * d2 + x + lo[2]] { out[(z * c[1] + y) * c[2] + x] = 1 }
            } } }
            return out
        }
        let cg = crop(gt), cp = crop(pred)
        let codeG = neighbourCodes(cg, c), codeP = neighbourCodes(cp, c)
        let borderG = codeG.map { $0 != 0 && $0 != 255 }, borderP = codeP.map { $0 != 0 && $0 != 255 }
        let distG = distanceToFeatures(borderG, c, spacing)   // distance to the gt surface
        let distP = distanceToFeatures(borderP, c, spacing)
        let area = surfaceAreaTable(spacing: spacing)
        var r = SurfaceDistances(distancesGTToPred: [], distancesPredToGT: [], surfelAreasGT: [], surfelAreasPred: [])
        for i in 0..<n {
            if borderG[i] { r.distancesGTToPred.append(distP[i]); r.surfelAreasGT.append(area[Int(codeG[i])]) }
            if borderP[i] { r.distancesPredToGT.append(distG[i]); r.surfelAreasPred.append(area[Int(codeP[i])]) }
        }
        return r
    }

    /// `scipy.ndimage.correlate(mask, [[[128,64],[32,16]],[[8,4],[2,1]]], mode="constant")`:
    /// code(z,y,x) = Σ kernel[a,b,c]·mask[z+a−1, y+b−1, x+c−1].
    static func neighbourCodes(_ m: [UInt8], _ c: [Int]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: m.count)
        let weights: [[[Int]]] = [[[128, 64], [32, 16]], [[8, 4], [2, 1]]]
        for z in 0..<c[0] { for y in 0..<c[1] { for x in 0..<c[2] {
            var code = 0
            for a in 0..<2 { let zz = z + a - 1; if zz < 0 { continue }
                for b in 0..<2 { let yy = y + b - 1; if yy < 0 { continue }
                    for e in 0..<2 { let xx = x + e - 1; if xx < 0 { continue }
                        if m[(zz * c[1] + yy) * c[2] + xx] != 0 { code += weights[a][b][e] }
                    }
                }
            }
            out[(z * c[1] + y) * c[2] + x] = UInt8(code)
        } } }
        return out
    }

    /// Exact Euclidean distance (with per-axis sampling) from every voxel to the nearest `true`
    /// voxel; `+∞` everywhere when there is none. Felzenszwalb–Huttenlocher lower envelope of
    /// parabolas per axis, tracking the nearest feature so that the final distance is
    /// `sqrt(((Δ0·s0)² + (Δ1·s1)²) + (Δ2·s2)²)` like SciPy's `distance_transform_edt`.
    public static func distanceToFeatures(_ feature: [Bool], _ shape: [Int], _ spacing: [Double]) -> [Double] {
        let n = feature.count
        guard feature.contains(true) else { return [Double](repeating: .infinity, count: n) }
        var f = feature.map { $0 ? 0.0 : Double.infinity }
        var feat = [Int32](repeating: -1, count: n)
        for i in 0..<n where feature[i] { feat[i] = Int32(i) }
        let strides = [shape[1] * shape[2], shape[2], 1]
        for axis in (0..<3).reversed() {
            let len = shape[axis], st = strides[axis], s = spacing[axis]
            if len <= 1 { continue }
            var lineF = [Double](repeating: 0, count: len), lineFeat = [Int32](repeating: 0, count: len)
            var v = [Int](repeating: 0, count: len), zb = [Double](repeating: 0, count: len + 1)
            // iterate over all lines along `axis`
            let outer = n / len
            for o in 0..<outer {
                // base index of the line: decompose o over the other axes
                var base = 0, rem = o
                for ax in (0..<3).reversed() where ax != axis {
                    base += (rem % shape[ax]) * strides[ax]; rem /= shape[ax]
                }
                for q in 0..<len { lineF[q] = f[base + q * st]; lineFeat[q] = feat[base + q * st] }
                // lower envelope over finite samples
                var k = -1
                for q in 0..<len where lineF[q].isFinite {
                    let fq = lineF[q] + (s * Double(q)) * (s * Double(q))
                    while k >= 0 {
                        let p = v[k]
                        let fp = lineF[p] + (s * Double(p)) * (s * Double(p))
                        let inter = (fq - fp) / (2 * s * s * Double(q - p))
                        if inter <= zb[k] { k -= 1 } else { break }
                    }
                    k += 1
                    v[k] = q
                    if k == 0 {
                        zb[0] = -.infinity
                    } else {
                        let p = v[k - 1]
                        let fp = lineF[p] + (s * Double(p)) * (s * Double(p))
                        zb[k] = (fq - fp) / (2 * s * s * Double(q - p))
                    }
                    zb[k + 1] = .infinity
                }
                if k < 0 { continue }   // no feature on this line: stays +inf
                var j = 0
                for q in 0..<len {
                    let x = Double(q)
                    while zb[j + 1] < x { j += 1 }
                    let p = v[j]
                    let dq = s * Double(q - p)
                    f[base + q * st] = dq * dq + lineF[p]
                    feat[base + q * st] = lineFeat[p]
                }
            }
        }
        var out = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let t = Int(feat[i])
            let z = i / strides[0], y = (i / strides[1]) % shape[1], x = i % shape[2]
            let tz = t / strides[0], ty = (t / strides[1]) % shape[1], tx = t % shape[2]
            let a = Double(tz - z) * spacing[0], b = Double(ty - y) * spacing[1], c = Double(tx - x) * spacing[2]
            out[i] = ((a * a + b * b) + c * c).squareRoot()
        }
        return out
    }

    // DeepMind surface-distance `_NEIGHBOUR_CODE_TO_NORMALS` (Apache-2.0, derived from marching
    // cubes), every component multiplied by 8 (all are multiples of 1/8): `normalCounts[code]`
    // normals per code, `normalsTimes8` their (x0, x1, x2) components in code order.
    static let normalCounts: [UInt8] = [
        1, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 2, 1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 3,
        1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 3, 2, 3, 3, 2, 3, 4, 4, 3, 3, 4, 4, 3, 4, 3, 3, 2,
        1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 3, 2, 3, 3, 4, 3, 2, 4, 3, 3, 4, 4, 3, 4, 3, 3, 2,
        2, 3, 3, 4, 3, 4, 4, 3, 3, 4, 4, 3, 4, 3, 3, 2, 3, 4, 4, 3, 4, 3, 3, 2, 4, 3, 3, 2, 3, 2, 2, 1,
        1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 3, 2, 3, 3, 4, 3, 4, 4, 3, 3, 4, 4, 3, 4, 3, 3, 2,
        2, 3, 3, 4, 3, 4, 4, 3, 3, 4, 2, 3, 4, 3, 3, 2, 3, 4, 4, 3, 4, 3, 3, 2, 4, 3, 3, 2, 3, 2, 2, 1,
        2, 3, 3, 4, 3, 4, 4, 3, 3, 4, 4, 3, 2, 3, 3, 2, 3, 4, 4, 3, 4, 3, 3, 2, 4, 3, 3, 2, 3, 2, 2, 1,
        3, 4, 4, 3, 4, 3, 3, 2, 4, 3, 3, 2, 3, 2, 2, 1, 2, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 1,
    ]
    static let normalsTimes8: [Int8] = [
        0, 0, 0, 1, 1, 1, -1, -1, 1, -2, -2, 0, 2, 2, 0, 1, -1, 1, -2, 0, -2, 2, 0, 2, 1, -1, 1, -1, -1, 1,
        4, 0, 0, 2, 2, 2, 1, 1, 1, -1, 1, 1, 1, 1, 1, -1, 1, 1, -2, 0, 2, -2, 0, 2, 4, 0, 0, -2, -2, 2,
        -1, -1, 1, 2, -2, 0, 2, -2, 0, 4, 0, 0, 2, -2, 2, -1, 1, -1, -4, 0, 0, -2, 2, 2, -1, 1, 1, 4, 0, 0,
        4, 0, 0, 1, -1, -1, 0, -2, -2, 0, 2, 2, -1, -1, 1, 1, -1, -1, 0, -4, 0, 2, 2, 2, 1, 1, 1, 1, -1, 1,
        1, -1, -1, 0, 0, -4, 2, 2, 2, -1, -1, -1, -1, -1, 1, 1, -1, 1, 1, -1, -1, -1, -1, -1, -2, -2, -2, 2, 2, 2,
        1, 1, 1, -1, 1, 1, 1, -1, -1, 0, -2, -2, 0, 2, 2, -1, 1, 1, -2, 0, 2, -2, 0, 2, 1, -1, -1, 1, 1, 1,
        3, 3, 3, 0, -2, 2, -2, 0, 2, 1, -1, -1, 2, -2, 0, 2, -2, 0, 3, 3, 3, 0, 2, -2, -1, -1, -1, -2, 2, 0,
        -4, 0, 0, -1, -1, -1, -2, -2, -2, 1, 1, 1, -4, 0, 0, -1, -1, -1, -2, -2, -2, 1, -1, 1, 1, 1, 1, 1, -1, 1,
        0, -2, 2, 0, 2, -2, 0, -4, 0, 1, 1, -1, 2, 2, -2, 1, -1, 1, 1, -1, 1, 1, -1, 1, -2, 0, -2, 2, 0, 2,
        0, -2, 2, 0, 2, -2, 1, -1, 1, -3, -3, 3, 0, 2, 2, 1, 1, -1, -2, 0, -2, -1, 1, 1, 1, -1, 1, 1, 1, 1,
        1, -1, 1, -1, 1, 1, 0, 0, 4, -2, -2, 2, -1, -1, 1, 2, 2, -2, 2, 2, -2, 1, 1, -1, -1, -1, 1, 1, -1, 1,
        2, -2, 0, 2, -2, 0, 4, 0, 0, 2, -2, 2, -1, 1, -1, 1, -1, 1, 0, 2, -2, 3, -3, -3, -1, 1, 1, 2, 2, 0,
        -4, 0, 0, -2, -2, 2, -1, -1, 1, 2, -2, 0, -2, 2, 0, 0, 4, 0, -2, 2, 2, 1, -1, -1, 0, 4, 0, 1, -1, 1,
        -2, 2, -2, 0, 4, 0, 0, -4, 0, 2, -2, 0, -2, 2, 0, 1, -1, 1, -3, -3, -3, -2, 0, 2, -1, -1, -1, -2, 2, 0,
        1, 1, 1, 0, -4, 0, -2, -2, -2, -1, -1, -1, 0, -4, 0, -2, -2, -2, -1, -1, -1, -1, 1, 1, 2, -2, 0, -2, 2, 0,
        0, 4, 0, 2, 2, -2, -1, -1, 1, -1, -1, 1, -3, 3, -3, -2, -2, 0, -1, 1, -1, -2, 0, 2, 0, 4, 0, 2, 2, -2,
        -1, -1, 1, 2, -2, 0, -2, 2, 0, 2, -2, 0, 2, -2, 0, -2, -2, 0, -2, -2, 0, -1, -1, 1, 1, 1, 1, -2, -2, 0,
        -2, -2, 0, -2, -2, 0, -2, -2, 0, -1, -1, 1, 1, 1, 1, -1, -1, 1, -1, -1, 1, -1, -1, 1, -1, -1, 1, -2, -2, 0,
        2, 2, 0, 0, -2, 2, 0, -2, 2, 0, 0, 4, 2, -2, 2, 1, -1, 1, 0, -2, 2, 0, -2, 2, -1, -1, 1, 3, -3, 3,
        0, -2, -2, -1, 1, -1, 2, 2, 0, -1, -1, 1, -1, 1, 1, 1, 1, 1, -1, -1, 1, -1, 1, 1, -1, -1, 1, -2, 0, 2,
        -2, 0, 2, 4, 0, 0, -2, -2, 2, -1, -1, 1, -1, -1, 1, 0, 4, 0, -2, 2, -2, 1, -1, 1, -2, 2, -2, -2, 2, -2,
        -1, 1, -1, -1, 1, -1, -2, 0, -2, 3, -3, -3, 0, 2, -2, -1, 1, 1, 4, 0, 0, -2, 2, -2, 1, -1, 1, -2, 0, 2,
        2, 0, -2, 0, 0, 4, -2, 2, 2, -1, 1, 1, -1, -1, 1, -2, 0, 2, 2, 0, -2, -2, 0, -2, -3, 3, 3, -2, -2, 0,
        -1, 1, 1, 0, 0, -4, 2, 2, -2, -1, -1, 1, 0, 0, 4, 0, 0, 4, 1, 1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 4,
        1, 1, 1, 2, 2, 2, 0, 0, 4, -2, 0, 2, 2, 0, -2, -1, 1, 1, 0, 0, 4, 2, -2, 2, 1, -1, 1, 1, -1, 1,
        -2, 0, 2, -2, 0, 2, -2, 0, 2, 2, 0, -2, 1, -1, 1, 2, 0, 2, 2, 0, 2, 2, 0, 2, -3, -3, 3, -2, 2, 0,
        -1, -1, 1, 0, 0, 4, 2, -2, 2, 1, -1, 1, 1, 1, 1, 2, 0, 2, 2, 0, 2, 2, 0, 2, 2, 0, 2, -1, -1, 1,
        1, -1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, -1, 1, 0, -2, 2, 0, 2, -2, 0, -4, 0, 1, 1, -1, 2, 2, -2,
        -1, -1, 1, 0, -2, 2, 0, -2, 2, 1, -1, 1, 0, 0, 4, 2, -2, 2, 1, -1, 1, 1, -1, 1, 0, -2, 2, 0, -2, 2,
        0, -2, 2, 0, 2, -2, 0, 2, 2, 0, 2, 2, 1, -1, -1, -1, 1, 1, 1, -1, 1, -1, -1, 1, -1, 1, 1, 1, -1, 1,
        -1, -1, 1, 1, 1, 1, 0, 0, 4, -2, -2, 2, -1, -1, 1, -1, -1, 1, 1, 1, 1, 1, -1, 1, 1, -1, -1, 0, 4, 0,
        -2, 2, -2, 1, -1, 1, 1, -1, 1, 1, 1, 1, -1, -1, 1, 1, -1, -1, 0, -2, -2, 0, 2, 2, 1, 1, 1, 1, 1, 1,
        1, -1, -1, 4, 0, 0, 2, -2, -2, 1, -1, -1, -2, 2, 2, -1, 1, 1, -2, 2, 2, 1, -1, -1, 3, -3, 3, 0, 2, 2,
        -1, 1, -1, -2, 0, 2, 0, -4, 0, -2, 2, 2, -1, 1, 1, -3, -3, 3, 2, -2, 0, 0, 2, 2, -1, -1, 1, -1, 1, 1,
        -2, 2, 2, 0, 0, 4, 1, 1, 1, 0, 2, 2, 0, 2, 2, 0, 2, 2, 0, 2, 2, 4, 0, 0, 2, 2, 2, 1, 1, 1,
        1, 1, 1, 1, -1, 1, -1, -1, 1, 1, 1, 1, -2, 0, -2, 2, 0, 2, 1, 1, 1, 1, 1, 1, 1, -1, 1, -2, -2, 0,
        2, 2, 0, 1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, -1, -1, 1, -2, -2, 0, 2, 2, 0, 1, 1, 1, 1, 1, 1, 1, -1, 1, -2, 0, -2, 2, 0, 2, 1, 1, 1,
        1, -1, 1, -1, -1, 1, 1, 1, 1, 4, 0, 0, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 2, 2, 0, 2, 2, 1, 1, 1,
        0, 2, 2, 0, 2, 2, -1, 1, 1, -2, 2, 2, 0, 0, 4, -3, -3, 3, 2, -2, 0, 0, 2, 2, -1, -1, 1, 0, -4, 0,
        -2, 2, 2, -1, 1, 1, 3, -3, 3, 0, 2, 2, -1, 1, -1, -2, 0, 2, -2, 2, 2, -1, 1, 1, -2, 2, 2, 1, -1, -1,
        4, 0, 0, 2, -2, -2, 1, -1, -1, 1, 1, 1, 1, -1, -1, 0, -2, -2, 0, 2, 2, 1, 1, 1, 1, 1, 1, -1, -1, 1,
        1, -1, -1, 0, 4, 0, -2, 2, -2, 1, -1, 1, 1, -1, 1, 1, 1, 1, 1, -1, 1, 1, -1, -1, 0, 0, 4, -2, -2, 2,
        -1, -1, 1, -1, -1, 1, -1, 1, 1, 1, -1, 1, -1, -1, 1, 1, 1, 1, -1, 1, 1, 1, -1, 1, -1, -1, 1, 0, 2, 2,
        0, 2, 2, 1, -1, -1, 0, -2, -2, 0, 2, 2, 0, 2, 2, 0, 2, 2, 0, 0, 4, 2, -2, 2, 1, -1, 1, 1, -1, 1,
        0, -2, 2, 0, -2, 2, 1, -1, 1, 0, -4, 0, 1, 1, -1, 2, 2, -2, -1, -1, 1, -1, -1, 1, 0, -2, 2, 0, 2, -2,
        1, 1, 1, -1, -1, 1, 1, -1, 1, -1, -1, 1, 1, -1, 1, 2, 0, 2, 2, 0, 2, 1, 1, 1, 2, 0, 2, 2, 0, 2,
        0, 0, 4, 2, -2, 2, 1, -1, 1, 2, 0, 2, -3, -3, 3, -2, 2, 0, -1, -1, 1, 1, -1, 1, 2, 0, 2, 2, 0, 2,
        -2, 0, -2, 2, 0, 2, 2, 0, 2, 2, 0, 2, 0, 0, 4, 2, -2, 2, 1, -1, 1, 1, -1, 1, -2, 0, 2, 2, 0, -2,
        -1, 1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 4, 1, 1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 4, 0, 0, 4, 0, 0, 4,
        0, 0, -4, 2, 2, -2, -1, -1, 1, -2, 0, -2, -3, 3, 3, -2, -2, 0, -1, 1, 1, -1, -1, 1, -2, 0, 2, 2, 0, -2,
        0, 0, 4, -2, 2, 2, -1, 1, 1, -2, 0, 2, 2, 0, -2, 4, 0, 0, -2, 2, -2, 1, -1, 1, -2, 0, -2, 3, -3, -3,
        0, 2, -2, -1, 1, 1, -2, 2, -2, -2, 2, -2, -1, 1, -1, -1, 1, -1, 0, 4, 0, -2, 2, -2, 1, -1, 1, 4, 0, 0,
        -2, -2, 2, -1, -1, 1, -1, -1, 1, -1, -1, 1, -2, 0, 2, -2, 0, 2, 1, 1, 1, -1, -1, 1, -1, 1, 1, -1, -1, 1,
        -1, 1, 1, 3, -3, 3, 0, -2, -2, -1, 1, -1, 2, 2, 0, 0, -2, 2, 0, -2, 2, -1, -1, 1, 0, 0, 4, 2, -2, 2,
        1, -1, 1, 0, -2, 2, 0, -2, 2, -1, -1, 1, -2, -2, 0, 2, 2, 0, -1, -1, 1, -1, -1, 1, 1, 1, 1, -1, -1, 1,
        -1, -1, 1, -2, -2, 0, -2, -2, 0, 1, 1, 1, -2, -2, 0, -2, -2, 0, -2, -2, 0, -2, -2, 0, -1, -1, 1, -2, -2, 0,
        -2, -2, 0, -2, -2, 0, 2, 2, 0, 0, 4, 0, 2, 2, -2, -1, -1, 1, -3, 3, -3, -2, -2, 0, -1, 1, -1, -2, 0, 2,
        0, 4, 0, 2, 2, -2, -1, -1, 1, -1, -1, 1, -1, 1, 1, 2, -2, 0, -2, 2, 0, 0, -4, 0, -2, -2, -2, -1, -1, -1,
        1, 1, 1, 0, -4, 0, -2, -2, -2, -1, -1, -1, -3, -3, -3, -2, 0, 2, -1, -1, -1, -2, 2, 0, 2, -2, 0, -2, 2, 0,
        1, -1, 1, 0, 4, 0, 0, -4, 0, 0, 4, 0, 1, -1, 1, -2, 2, -2, 0, 4, 0, -2, 2, 2, 1, -1, -1, 2, -2, 0,
        -2, 2, 0, -4, 0, 0, -2, -2, 2, -1, -1, 1, 0, 2, -2, 3, -3, -3, -1, 1, 1, 2, 2, 0, 4, 0, 0, 2, -2, 2,
        -1, 1, -1, 1, -1, 1, 1, -1, 1, 2, -2, 0, 2, -2, 0, 2, 2, -2, 2, 2, -2, 1, 1, -1, -1, -1, 1, 0, 0, 4,
        -2, -2, 2, -1, -1, 1, 1, 1, 1, 1, -1, 1, -1, 1, 1, -1, 1, 1, 1, -1, 1, -3, -3, 3, 0, 2, 2, 1, 1, -1,
        -2, 0, -2, 0, -2, 2, 0, 2, -2, 1, -1, 1, 1, -1, 1, -2, 0, -2, 2, 0, 2, 1, -1, 1, 1, -1, 1, 0, -4, 0,
        1, 1, -1, 2, 2, -2, 0, -2, 2, 0, 2, -2, 1, 1, 1, 1, -1, 1, 1, -1, 1, -4, 0, 0, -1, -1, -1, -2, -2, -2,
        -4, 0, 0, -1, -1, -1, -2, -2, -2, 1, 1, 1, 3, 3, 3, 0, 2, -2, -1, -1, -1, -2, 2, 0, 1, -1, -1, 2, -2, 0,
        2, -2, 0, 1, 1, 1, 3, 3, 3, 0, -2, 2, -2, 0, 2, -2, 0, 2, -2, 0, 2, 1, -1, -1, 0, -2, -2, 0, 2, 2,
        -1, 1, 1, -1, 1, 1, 1, -1, -1, -1, -1, -1, -2, -2, -2, 2, 2, 2, 1, 1, 1, -1, -1, 1, 1, -1, 1, 1, -1, -1,
        0, 0, -4, 2, 2, 2, -1, -1, -1, 1, -1, 1, 1, -1, -1, 0, -4, 0, 2, 2, 2, 1, 1, 1, -1, -1, 1, 1, -1, -1,
        0, -2, -2, 0, 2, 2, 1, -1, -1, 4, 0, 0, 4, 0, 0, -4, 0, 0, -2, 2, 2, -1, 1, 1, 4, 0, 0, 2, -2, 2,
        -1, 1, -1, 2, -2, 0, 2, -2, 0, 4, 0, 0, -2, -2, 2, -1, -1, 1, -2, 0, 2, -2, 0, 2, 1, 1, 1, -1, 1, 1,
        -1, 1, 1, 4, 0, 0, 2, 2, 2, 1, 1, 1, 1, -1, 1, -1, -1, 1, -2, 0, -2, 2, 0, 2, 1, -1, 1, -2, -2, 0,
        2, 2, 0, -1, -1, 1, 1, 1, 1, 0, 0, 0,
    ]
}
