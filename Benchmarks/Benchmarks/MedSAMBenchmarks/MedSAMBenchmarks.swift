// package-benchmark suite: both models, every stage.
//
//   swift package --package-path Benchmarks benchmark                 # all cases
//   swift package --package-path Benchmarks benchmark --filter Lite   # only LiteMedSAM
//   MEDSAM_THREADS=1 swift package --package-path Benchmarks benchmark # thread count (default 2)
//
// MedSAM (ViT-B) runs with reproducible synthetic weights (DeterministicWeights: same shapes and
// FLOPs as the checkpoint); LiteMedSAM with the real checkpoint when scripts/fetch-checkpoints.sh
// has fetched it. Inputs: the real CT slice Fixtures/data/dicompyler_ct/ct0 (512×512, CT window
// L40/W400 → uint8) and its BODY box; the 3-D case uses the MNI152 T1 volume (120×100 slices).
import Benchmark
import BenchSupport
import Foundation
import MedSAM
import Synchronization
import Tensor

/// Cases are built once per process (weights loaded, one warm-up encoder run) outside measurement.
final class Cases: Sendable {
    static let shared = Cases()
    private let cache = Mutex<[ModelKind: BenchCase]>([:])
    func get(_ m: ModelKind) -> BenchCase {
        cache.withLock { c in
            if let x = c[m] { return x }
            let threads = Int(ProcessInfo.processInfo.environment["MEDSAM_THREADS"] ?? "") ?? 2
            ComputeThreads.set(threads)
            let x = try! BenchCase(m)
            c[m] = x
            return x
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .peakMemoryResident, .mallocCountTotal],
        timeUnits: .milliseconds,
        warmupIterations: 0,
        maxDuration: .seconds(60),
        maxIterations: 5
    )

    // Every model of the registry, smallest input first (LiteMedSAM, then MedSAM).
    for variant in ModelRegistry.standard.variants.reversed() {
        let model = variant.kind
        let name = model.displayName
        let heavy = variant.cachedCheckpointName == nil   // ViT-B: generated weights, 1024² input
        // ViT-B is ~10 s per encoder run here: keep its counts small.
        let slow = Benchmark.Configuration(maxDuration: .seconds(heavy ? 40 : 30), maxIterations: heavy ? 3 : 5)
        let fast = Benchmark.Configuration(warmupIterations: 1, maxDuration: .seconds(10), maxIterations: 10)

        Benchmark("\(name) image encoder", configuration: slow) { b in
            let c = Cases.shared.get(model)
            b.startMeasurement()
            for _ in b.scaledIterations { blackHole(c.encoder()) }
        } setup: { _ = Cases.shared.get(model) }

        Benchmark("\(name) prompt encoder + mask decoder (1 box)", configuration: fast) { b in
            let c = Cases.shared.get(model)
            b.startMeasurement()
            for _ in b.scaledIterations { blackHole(c.decoder()) }
        } setup: { _ = Cases.shared.get(model) }

        Benchmark("\(name) segment 1 box on embedding (post incl.)", configuration: fast) { b in
            let c = Cases.shared.get(model)
            b.startMeasurement()
            for _ in b.scaledIterations { blackHole(try! c.segmentOneBox()) }
        } setup: { _ = Cases.shared.get(model) }

        Benchmark("\(name) segment 10 boxes on one embedding", configuration: fast) { b in
            let c = Cases.shared.get(model)
            b.startMeasurement()
            for _ in b.scaledIterations { blackHole(try! c.segmentTenBoxes()) }
        } setup: { _ = Cases.shared.get(model) }

        Benchmark("\(name) 2-D pipeline, 1 box (pre/post incl.)", configuration: slow) { b in
            let c = Cases.shared.get(model)
            b.startMeasurement()
            for _ in b.scaledIterations { blackHole(try! c.pipeline()) }
        } setup: { _ = Cases.shared.get(model) }
    }

    // No volume API in the library yet (no `segmentVolume`): 20 slices through embed + segment.
    Benchmark("LiteMedSAM 3-D volume 20 slices (embed+segment loop)",
              configuration: .init(maxDuration: .seconds(120), maxIterations: 2)) { b in
        let c = Cases.shared.get(.liteMedSAM)
        let (images, box) = try! BenchInputs.volume(slices: 20)
        b.startMeasurement()
        for _ in b.scaledIterations { blackHole(try! c.volumeLoop(images, box: box)) }
    } setup: { _ = Cases.shared.get(.liteMedSAM) }
}
