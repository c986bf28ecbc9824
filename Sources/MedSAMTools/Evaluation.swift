import Checkpoint
import Foundation
import Imaging
import MedSAM
import MedSAMMetrics
import MedicalIO
import NN

/// `medsam eval`: DSC and NSD (CVPR24 `compute_metrics.py`) of `segs` in PRED_DIR against `gts` in GT_DIR.
public enum Evaluation {
    public struct CaseResult: Sendable {
        public let name: String
        public let scores: SegmentationMetrics.CaseScores?   // nil: prediction missing
    }

    public static func evaluate(predictions: URL, groundTruth: URL, tolerance: Double) throws -> [CaseResult] {
        for d in [predictions, groundTruth] {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: d.path, isDirectory: &isDir), isDir.boolValue else {
                throw ToolError("no such folder: \(d.path)")
            }
        }
        guard tolerance.isFinite, tolerance >= 0 else { throw ToolError("--tolerance \(tolerance): must be ≥ 0") }
        let names = try FileManager.default.contentsOfDirectory(atPath: groundTruth.path)
            .filter { $0.lowercased().hasSuffix(".npz") && !$0.hasPrefix(".") }.sorted()
        guard !names.isEmpty else { throw ToolError("no .npz ground-truth cases in \(groundTruth.path)") }
        var out = [CaseResult]()
        for name in names {
            let gtNPZ = try NPZArchive.read(groundTruth.appendingPathComponent(name))
            guard let gts = gtNPZ["gts"] else { throw ToolError("\(name): ground truth has no 'gts' array") }
            let predURL = predictions.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: predURL.path) else {
                out.append(CaseResult(name: name, scores: nil)); continue
            }
            let pred = try NPZArchive.read(predURL)
            guard let segs = pred["segs"] else { throw ToolError("\(name): prediction has no 'segs' array") }
            guard segs.shape == gts.shape else {
                throw ToolError("\(name): prediction shape \(segs.shape) differs from ground truth \(gts.shape)")
            }
            let g = try gts.ints().map { Int32(clamping: $0) }, s = try segs.ints().map { Int32(clamping: $0) }
            var spacing: [Double]? = nil
            if gts.shape.count == 3 {
                spacing = gtNPZ["spacing"]?.doubles() ?? [1, 1, 1]
                guard spacing?.count == 3 else { throw ToolError("\(name): spacing must have 3 values") }
            }
            let scores = SegmentationMetrics.caseScores(gt: LabelVolume(g, shape: gts.shape), seg: LabelVolume(s, shape: segs.shape),
                                                        spacing: spacing, tolerance: tolerance)
            out.append(CaseResult(name: name, scores: scores))
        }
        return out
    }

    static func fmt(_ v: Double?) -> String {
        guard let v else { return "" }
        return v.isNaN ? "nan" : String(format: "%.6f", v)
    }

    /// CSV: `case,label,dsc,nsd`; one row per label and one `all` row per case (missing predictions: `missing`).
    public static func csv(_ results: [CaseResult]) -> String {
        var lines = ["case,label,dsc,nsd"]
        for r in results {
            guard let s = r.scores else { lines.append("\(r.name),missing,0.000000,0.000000"); continue }
            for (i, d) in s.dscPerLabel.enumerated() {
                let nsd: Double? = s.nsdPerLabel.isEmpty ? nil : s.nsdPerLabel[i]
                lines.append("\(r.name),\(i + 1),\(fmt(d)),\(fmt(nsd))")
            }
            lines.append("\(r.name),all,\(fmt(s.dsc)),\(fmt(s.nsd))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Mean DSC / NSD over cases (missing predictions count as 0, NaN cases are left out).
    public static func summary(_ results: [CaseResult]) -> String {
        let scored = results.map { r -> (Double, Double) in r.scores.map { ($0.dsc, $0.nsd) } ?? (0, 0) }.filter { !$0.0.isNaN }
        let n = Double(max(1, scored.count))
        let dsc = scored.reduce(0) { $0 + $1.0 } / n, nsd = scored.reduce(0) { $0 + $1.1 } / n
        let missing = results.filter { $0.scores == nil }.count
        var text = String(format: "%d case(s): mean DSC %.4f, mean NSD %.4f", results.count, dsc, nsd)
        if missing > 0 { text += " (\(missing) prediction(s) missing, counted as 0)" }
        return text
    }
}

/// `medsam info` and `medsam convert`.
public enum CheckpointTools {
    public static func load(_ path: String) throws -> StateDict {
        let url = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
            throw ToolError("no such file: \(url.path)")
        }
        return try StateDict(contentsOf: url)
    }

    static func count(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2f M", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1f k", Double(n) / 1e3) : "\(n)"
    }

    public static func info(_ path: String) throws -> String {
        let sd = try load(path)
        let kind = Segmenter.detect(sd)
        var lines = ["\(URL(fileURLWithPath: path).lastPathComponent)",
                     "model: \(kind?.displayName ?? "unknown (keys match neither MedSAM nor LiteMedSAM)")",
                     "parameters: \(sd.parameterCount) (\(count(sd.parameterCount)))",
                     "tensors: \(sd.count)"]
        var dtypeCounts = [String: Int]()
        for k in sd.keys { dtypeCounts["\(sd.dtypes[k].map { "\($0)" } ?? "?")", default: 0] += 1 }
        lines.append("dtypes: " + dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        var order = [String](), groups = [String: (tensors: Int, params: Int)]()
        for k in sd.keys {
            let top = String(k.split(separator: ".").first ?? Substring(k))
            if groups[top] == nil { order.append(top); groups[top] = (0, 0) }
            groups[top]!.tensors += 1
            groups[top]!.params += sd[k]?.count ?? 0
        }
        lines.append("keys by prefix:")
        for p in order {
            let g = groups[p]!
            lines.append("  \(p): \(g.tensors) tensors, \(g.params) parameters (\(count(g.params)))")
        }
        return lines.joined(separator: "\n")
    }

    /// Writes the checkpoint as safetensors (F32, or F16 with `half`); with `precision` int8 or bf16 the image
    /// encoder's Linear weights are stored reduced (``ReducedPrecisionExport``), a smaller file that loads
    /// without the fp32 original.
    public static func convert(_ input: String, _ output: String, half: Bool, precision: Precision = .fp32) throws -> String {
        let out = URL(fileURLWithPath: output)
        try OutputWriter.checkExtension(out, allowed: ["safetensors"], what: "output")
        let sd = try load(input)
        if precision != .fp32 {
            let export = try ReducedPrecisionExport(sd, precision: precision)
            try AtomicFile.write(out) {
                try Safetensors.write(export.tensors, to: $0, half: half, metadata: export.metadata, dtypes: export.dtypes)
            }
            let model = Segmenter.detect(sd)?.displayName ?? "unknown model"
            return "wrote \(out.path): \(model), \(export.tensors.count) tensors, image encoder's \(export.reducedKeys.count) Linear weights in \(precision), others \(half ? "F16" : "F32")"
        }
        try AtomicFile.write(out) { try sd.write(safetensorsTo: $0, half: half) }
        let model = Segmenter.detect(sd)?.displayName ?? "unknown model"
        return "wrote \(out.path): \(model), \(sd.count) tensors, \(sd.parameterCount) parameters, \(half ? "F16" : "F32")"
    }
}
