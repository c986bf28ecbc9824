// The Swift side of Benchmarks/compare: times one model's stages in this process and prints
// one JSON object per line (engine, model, stage, threads, seconds, peak RSS).
//
//   medsam-bench --model medsam|lite [--threads N] [--repeats R] [--stages encoder,decoder,pipeline,boxes10,volume]
//                [--pool-limit-mb M]   (tensor buffer cache bound; 0 disables reuse, for before/after runs)
//                [--precision fp32|int8|bf16]   (the image encoder's arithmetic)
import Dispatch
import Foundation
import MedSAM
import Tensor
import BenchSupport

var model = ModelKind.liteMedSAM
var threads = 2
var repeats = 3
var stages = ["encoder", "decoder", "segment1", "boxes10", "pipeline"]
var volumeSlices = [5, 10, 20]
var precision = Precision.fp32
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--model":
        guard let v = try? ModelRegistry.standard.variant(named: args.next() ?? "") else {
            FileHandle.standardError.write("--model: one of \(ModelRegistry.standard.variants.map(\.kind.id))\n".data(using: .utf8)!)
            exit(2)
        }
        model = v.kind
    case "--print-openblas-core":   // the OpenBLAS core the package runs (after its check, see OpenBLASCore)
        let sel = OpenBLASCore.selection
        print(sel.active)
        FileHandle.standardError.write(Data("OpenBLAS detected \(sel.detected), active \(sel.active): \(sel.reason)\n".utf8))
        exit(0)
    case "--threads": threads = Int(args.next() ?? "") ?? threads
    case "--repeats": repeats = Int(args.next() ?? "") ?? repeats
    case "--stages": stages = (args.next() ?? "").split(separator: ",").map(String.init)
    case "--pool-limit-mb":   // TensorMemory cache bound; 0 = no reuse (every large buffer mapped and unmapped)
        TensorMemory.setCacheLimit((Int(args.next() ?? "") ?? 512) << 20)
    case "--precision":
        guard let p = Precision(rawValue: (args.next() ?? "").lowercased()) else {
            FileHandle.standardError.write("--precision: one of \(Precision.allCases.map(\.rawValue))\n".data(using: .utf8)!)
            exit(2)
        }
        precision = p
    case "--volume-slices": volumeSlices = (args.next() ?? "").split(separator: ",").compactMap { Int($0) }
    default:
        FileHandle.standardError.write("unknown argument \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}
ComputeThreads.set(threads)

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Minor page faults of this process so far (getrusage): a run that reuses resident memory adds ~0.
func minorFaults() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_minflt)
}

/// Minor faults of each timed run of the last `time` call, and the tensor buffer cache's misses (newly mapped
/// buffers) in each.
nonisolated(unsafe) var lastFaults: [Int] = []
nonisolated(unsafe) var lastPoolMisses: [Int] = []

@MainActor func emit(_ stage: String, _ times: [Double], extra: [String: Any] = [:]) {
    let sorted = times.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    var o: [String: Any] = ["engine": "swift", "model": model.id, "stage": stage,
                            "threads": threads, "seconds_median": median, "seconds_min": sorted[0],
                            "runs": times, "peak_rss_mb": BenchInputs.peakRSSMiB(),
                            "minor_faults_runs": lastFaults, "pool_misses_runs": lastPoolMisses, "kernel_variant": KernelVariant.best.description,
                            "openblas_core": OpenBLASCore.selection.active,
                            "pool_limit_mb": TensorMemory.cacheLimit >> 20,
                            "precision": precision.rawValue, "int8_kernel_variant": Int8KernelVariant.best.description]
    for (k, v) in extra { o[k] = v }
    let data = try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

func time(_ n: Int, warmup: Int = 0, _ body: () throws -> Void) rethrows -> [Double] {
    for _ in 0..<warmup { try body() }
    var out: [Double] = []
    lastFaults = []
    lastPoolMisses = []
    for _ in 0..<n {
        let f0 = minorFaults(), m0 = TensorMemory.reuseCounts.misses
        let t0 = now()
        try body()
        out.append(now() - t0)
        lastFaults.append(minorFaults() - f0)
        lastPoolMisses.append(TensorMemory.reuseCounts.misses - m0)
    }
    return out
}

do {
    let t0 = now()
    let c = try BenchCase(model, precision: precision)  // loads weights and runs the encoder once (warm-up)
    let setup = now() - t0
    FileHandle.standardError.write("[\(model.rawValue)] weights: \(c.weights), setup+first encode \(String(format: "%.2f", setup)) s\n".data(using: .utf8)!)
    for s in stages {
        switch s {
        case "encoder": emit("encoder", time(repeats) { _ = c.encoder() })
        case "decoder": emit("decoder", time(max(repeats, 10), warmup: 2) { _ = c.decoder() })
        case "segment1": emit("segment1", try time(max(repeats, 10), warmup: 1) { _ = try c.segmentOneBox() })
        case "boxes10": emit("boxes10", try time(max(repeats, 5), warmup: 1) { _ = try c.segmentTenBoxes() })
        case "pipeline": emit("pipeline", try time(repeats) { _ = try c.pipeline() })
        case "volume":
            let maxN = volumeSlices.max() ?? 20
            let (images, box) = try BenchInputs.volume(slices: maxN)
            for n in volumeSlices {
                let sub = Array(images.prefix(n))
                emit("volume\(n)", try time(max(1, repeats / 2)) { _ = try c.volumeLoop(sub, box: box) }, extra: ["slices": n])
            }
        default:
            FileHandle.standardError.write("unknown stage \(s)\n".data(using: .utf8)!)
        }
    }
} catch {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    exit(1)
}
