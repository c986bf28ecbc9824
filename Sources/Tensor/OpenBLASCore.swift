#if canImport(Glibc)
import Glibc
#endif

/// Which of OpenBLAS's kernel sets (its "core") runs the package's GEMMs, and the one correction the package
/// makes to OpenBLAS's own choice.
///
/// OpenBLAS built with `DYNAMIC_ARCH` (Debian's is) picks its kernels from the CPU model at load time. A model
/// it does not know can fall back to its oldest x86-64 kernels: Debian 12's OpenBLAS 0.3.21 runs an Intel Xeon of
/// family 6, model 207 (0xCF) with the SSE3 "Prescott" kernels, because that model falls through its model table
/// — about 4.6× slower sgemm than its AVX-512 kernels on the same CPU (1024³, one thread: 20 against 95
/// GFLOP/s). So, once, before the package's first BLAS call: when OpenBLAS reports a pre-AVX core on a CPU that
/// has AVX2+FMA, and neither `OPENBLAS_CORETYPE` (OpenBLAS's own override) nor `MEDSAM_OPENBLAS_CORE=keep` is
/// set, the package re-initialises OpenBLAS's kernel table for the core the CPU's instructions allow (Cooperlake
/// with AVX512_BF16, SkylakeX with AVX-512, Haswell with AVX2), exactly as `OPENBLAS_CORETYPE` would at load. It
/// changes nothing else: results are the same fp32 GEMM, summed in another order (every golden's tolerance holds).
/// A CPU OpenBLAS recognises (Zen, Skylake-X, …) is left as it is.
public enum OpenBLASCore {
    /// What OpenBLAS chose, and what runs.
    public struct Selection: Sendable, Equatable {
        /// OpenBLAS's own choice at load ("" when the BLAS is not OpenBLAS).
        public let detected: String
        /// The core in use after the package's check.
        public let active: String
        /// Why it was (not) changed, for diagnostics.
        public let reason: String
    }

    /// The selection, made on first use (thread-safe: a `static let`); benchmarks and diagnostics report it.
    public static let selection: Selection = select()

    /// Makes the selection if it has not been made (called before every BLAS entry point).
    @usableFromInline
    package static func ensureSelected() { _ = selection }

    /// OpenBLAS's x86-64 cores without AVX kernels (lower-cased, as `openblas_get_corename` spells them).
    static let preAVXCores: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "northwood", "banias", "katmai",
        "coppermine", "athlon", "opteron", "opteron(sse3)", "barcelona", "bobcat", "nano", "unknown",
    ]

    /// OpenBLAS's x86-64 cores with AVX-512 kernels (lower-cased).
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    /// Whether the active core runs OpenBLAS's AVX-512 kernels (false too when the BLAS is not OpenBLAS: nothing
    /// is known of its kernels). The own GEMM's depth rule reads it (``FP32PackedWeights/isPreferred``): an
    /// explicit `OPENBLAS_CORETYPE=Haswell` on an AVX-512 CPU is obeyed for OpenBLAS, and the package's own
    /// AVX-512 GEMM then takes every Linear depth.
    package static var runsAVX512Kernels: Bool { avx512Cores.contains(selection.active.lowercased()) }

    /// The core for this CPU's instructions (nil: nothing better than a pre-AVX core).
    static func coreForThisCPU() -> String? {
        switch cpuGEMMTier() {
        case 3: return "Cooperlake"
        case 2: return "SkylakeX"
        case 1: return "Haswell"
        default: return nil
        }
    }

    private static func symbol<T>(_ name: String, as: T.Type) -> T? {
        #if canImport(Glibc)
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else { return nil }
        return unsafeBitCast(sym, to: T.self)
        #else
        return nil
        #endif
    }

    private static func coreName() -> String? {
        typealias NameFn = @convention(c) () -> UnsafeMutablePointer<CChar>?
        guard let f = symbol("openblas_get_corename", as: NameFn.self), let p = f() else { return nil }
        return String(cString: p)
    }

    private static func select() -> Selection {
        guard let detected = coreName() else {
            return Selection(detected: "", active: "", reason: "the BLAS is not OpenBLAS")
        }
        func keep(_ why: String) -> Selection { Selection(detected: detected, active: detected, reason: why) }
        #if canImport(Glibc)
        if getenv("OPENBLAS_CORETYPE") != nil { return keep("OPENBLAS_CORETYPE is set") }
        if let v = getenv("MEDSAM_OPENBLAS_CORE"), String(cString: v) == "keep" { return keep("MEDSAM_OPENBLAS_CORE=keep") }
        guard preAVXCores.contains(detected.lowercased()) else { return keep("OpenBLAS chose a core with AVX kernels") }
        guard let wanted = coreForThisCPU() else { return keep("the CPU has no AVX2+FMA") }
        typealias VoidFn = @convention(c) () -> Void
        guard let quit = symbol("gotoblas_dynamic_quit", as: VoidFn.self),
              let initialise = symbol("gotoblas_dynamic_init", as: VoidFn.self) else {
            return keep("OpenBLAS was built without DYNAMIC_ARCH")
        }
        // gotoblas_dynamic_init reads OPENBLAS_CORETYPE (an unknown name there means "by CPU features", which
        // 0.3.21 needs for Cooperlake); the variable is removed again right after.
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        quit()
        initialise()
        unsetenv("OPENBLAS_CORETYPE")
        let active = coreName() ?? detected
        return Selection(detected: detected, active: active,
                         reason: "OpenBLAS fell back to \(detected) on a CPU with \(wanted)-class instructions")
        #else
        return keep("not Linux")
        #endif
    }
}
