#if canImport(Glibc)
import Glibc
#endif

extension TensorMemory {
    /// Fixes glibc's mmap threshold at `bytes` (turning off its dynamic adjustment), for long-running processes
    /// (`medsam serve`, long test loops): with the dynamic threshold, freed mid-sized temporaries stay resident in
    /// malloc's arenas and resident memory climbs by hundreds of MB over a few embeddings without any leak.
    /// Process-wide and permanent; does nothing where glibc's `mallopt` is unavailable.
    ///
    /// Together with the tensor buffer cache (``TensorMemory``), this is the package's whole memory policy.
    /// - Returns: whether the threshold was set.
    @discardableResult
    public static func useFixedMallocThreshold(_ bytes: Int = 128 << 10) -> Bool {
        #if canImport(Glibc)
        // <malloc.h> is not in the Glibc module: look the function up.
        guard let sym = dlsym(dlopen(nil, RTLD_NOW), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        return unsafeBitCast(sym, to: Mallopt.self)(-3 /* M_MMAP_THRESHOLD */, Int32(clamping: bytes)) == 1
        #else
        return false
        #endif
    }
}
