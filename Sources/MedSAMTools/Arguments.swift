import Foundation
import Imaging
import MedSAM

/// Parsers for the tool's option values. Each throws a ``ToolError`` naming the option and the value.
public enum ArgumentValues {
    static func numbers(_ text: String, option: String, count: ClosedRange<Int>, format: String) throws -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard count.contains(parts.count) else {
            throw ToolError("\(option) '\(text)': expected \(format)")
        }
        return try parts.map { p in
            guard let v = Double(p), v.isFinite else { throw ToolError("\(option) '\(text)': '\(p)' is not a number (expected \(format))") }
            return v
        }
    }

    /// `x0,y0,x1,y1` (pixels, x = column, y = row).
    public static func box(_ text: String) throws -> Box {
        let v = try numbers(text, option: "--box", count: 4...4, format: "x0,y0,x1,y1")
        let b = Box(x0: v[0], y0: v[1], x1: v[2], y1: v[3])
        guard b.x1 > b.x0, b.y1 > b.y0 else { throw ToolError("--box '\(text)': x1 must exceed x0 and y1 must exceed y0") }
        return b
    }

    /// `x0,y0,z0,x1,y1,z1` (voxels, maxima inclusive; integers).
    public static func box3D(_ text: String) throws -> Box3D {
        let v = try numbers(text, option: "--box3d", count: 6...6, format: "x0,y0,z0,x1,y1,z1")
        guard v.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else {
            throw ToolError("--box3d '\(text)': coordinates must be integers (voxels)")
        }
        let i = v.map { Int($0) }
        guard i[3] > i[0], i[4] > i[1], i[5] >= i[2] else {
            throw ToolError("--box3d '\(text)': needs x1 > x0, y1 > y0 and z1 ≥ z0")
        }
        return Box3D(x0: i[0], y0: i[1], z0: i[2], x1: i[3], y1: i[4], z1: i[5])
    }

    /// A point prompt: `x,y[,label]`, optionally prefixed with the 1-based box number it refines (`K:x,y[,label]`).
    /// Label 1 (default) = foreground, 0 = background.
    public struct PointArgument: Sendable, Equatable {
        public var object: Int?
        public var point: Point
        public static func == (a: Self, b: Self) -> Bool {
            a.object == b.object && a.point.x == b.point.x && a.point.y == b.point.y && a.point.positive == b.point.positive
        }
    }

    public static func point(_ text: String) throws -> PointArgument {
        var body = Substring(text)
        var object: Int?
        if let colon = text.firstIndex(of: ":") {
            guard let k = Int(text[..<colon]), k >= 1 else {
                throw ToolError("--point '\(text)': the part before ':' must be a box number (1, 2, …)")
            }
            object = k
            body = text[text.index(after: colon)...]
        }
        let v = try numbers(String(body), option: "--point", count: 2...3, format: "x,y[,label] or K:x,y[,label]")
        var positive = true
        if v.count == 3 {
            guard v[2] == 0 || v[2] == 1 else { throw ToolError("--point '\(text)': label must be 1 (foreground) or 0 (background)") }
            positive = v[2] == 1
        }
        return PointArgument(object: object, point: Point(x: v[0], y: v[1], positive: positive))
    }

    /// Groups boxes and points into one prompt per object (boxes in order; points without a box number
    /// refine the only box, or form one point-only object when no box is given).
    public static func prompts(boxes: [Box], points: [PointArgument]) throws -> [SegmentationPrompt] {
        var prompts = boxes.map { SegmentationPrompt(box: $0) }
        for p in points {
            if let k = p.object {
                guard k <= prompts.count else {
                    throw ToolError("--point \(k):…: there are only \(prompts.count) box(es)")
                }
                prompts[k - 1].points.append(p.point)
            } else if prompts.count <= 1 {
                if prompts.isEmpty { prompts.append(SegmentationPrompt()) }
                prompts[0].points.append(p.point)
            } else {
                throw ToolError("--point \(p.point.x),\(p.point.y): with several boxes, say which box it refines: --point K:x,y[,label]")
            }
        }
        return prompts
    }

    /// `i/n` with 1 ≤ i ≤ n (1-based, as in a Slurm array `--shard $SLURM_ARRAY_TASK_ID/N`).
    public static func shard(_ text: String) throws -> (index: Int, count: Int) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(i) else {
            throw ToolError("--shard '\(text)': expected i/n with 1 ≤ i ≤ n, e.g. 2/8")
        }
        return (i, n)
    }

    /// `--window`: a CT preset, `L,W` in HU, `percentile`, or `none` (values used as they are, must be 0…255).
    public static func window(_ text: String) throws -> WindowChoice {
        switch text.lowercased() {
        case "soft-tissue", "softtissue", "soft_tissue", "abdomen": return .window(.ct(.softTissue))
        case "lung": return .window(.ct(.lung))
        case "bone": return .window(.ct(.bone))
        case "brain": return .window(.ct(.brain))
        case "percentile", "mr": return .window(.percentile())
        case "none": return .none
        default:
            if text.contains(",") {
                let v = try numbers(text, option: "--window", count: 2...2, format: "L,W (level and width in HU)")
                guard v[1] > 0 else { throw ToolError("--window '\(text)': width must be positive") }
                return .window(.ct(.init(level: v[0], width: v[1])))
            }
            throw ToolError("--window '\(text)': unknown window (use soft-tissue, lung, bone, brain, L,W, percentile or none)")
        }
    }
}

/// What `--window` asked for.
public enum WindowChoice: Sendable, Equatable {
    case window(IntensityWindow)
    /// Values are used as they are (they must already be 0…255).
    case none
}
