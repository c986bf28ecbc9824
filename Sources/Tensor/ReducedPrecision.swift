// Reduced-precision weights for the image encoders' Linear layers (opt-in; fp32 is the exact default).
//
// The kernels are in Sources/CKernels/gemm_int8.c and gemm_bf16.c (reached through ``Kernels``); this file
// holds the packed weight types and the one driver that splits a Linear layer's rows over the threads.

/// The arithmetic of the image encoder's Linear layers.
///
/// - ``fp32``: the reference (default); the masks are PyTorch's.
/// - ``int8``: weights quantised per output channel at load (symmetric), activations per row at run time,
///   exact int32 accumulation, dequantisation + bias + activation fused into the GEMM.
/// - ``bf16``: bf16 weights and activations, fp32 accumulation; needs AVX512_BF16 (see ``isSupported``).
///
/// The ViT's attention products also run in bf16 under both reduced precisions where the CPU has AVX512_BF16
/// (`AttentionKernel`); prompt encoder, mask decoder, softmax, layer norms, convolutions and TinyViT's window
/// attention stay fp32.
public enum Precision: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case fp32
    case int8
    case bf16

    /// Whether this CPU runs the precision natively (`bf16` needs AVX512_BF16; the others run everywhere).
    public var isSupported: Bool { self != .bf16 || BF16KernelVariant.nativeAvailable }

    public var description: String { rawValue }
}

/// A weight matrix quantised to int8 (symmetric, one scale per output row), packed for the int8 GEMM.
package struct Int8Weights: Sendable {
    /// Output features (rows of the PyTorch weight) and input features.
    package let outFeatures: Int, inFeatures: Int
    /// The per-row scales (`w ≈ q · scale`).
    package let scales: [Float]
    /// The GEMM's panel layout, the padded column sums and padded scales.
    let packed: [Int8]
    let columnSums: [Int32]
    let paddedScales: [Float]
    var paddedDepth: Int { Kernels.int8PaddedDepth(inFeatures) }

    /// Quantises a row-major (out × in) float matrix.
    package init(quantizing w: Tensor) {
        precondition(w.rank == 2, "Int8Weights: 2-D weight expected")
        let (n, k) = (w.shape[0], w.shape[1])
        var q = [Int8](repeating: 0, count: n * k)
        var s = [Float](repeating: 0, count: n)
        w.withUnsafeBufferPointer { wp in
            q.withUnsafeMutableBufferPointer { qp in
                s.withUnsafeMutableBufferPointer { sp in
                    Kernels.int8QuantizeWeights(wp.baseAddress!, n: n, k: k, into: qp.baseAddress!, scales: sp.baseAddress!)
                }
            }
        }
        self.init(values: q, scales: s, outFeatures: n, inFeatures: k)
    }

    /// Already quantised values (e.g. read from a converted weight file).
    package init(values: [Int8], scales: [Float], outFeatures n: Int, inFeatures k: Int) {
        precondition(values.count == n * k && scales.count == n, "Int8Weights: \(values.count) values, \(scales.count) scales for \(n)×\(k)")
        outFeatures = n
        inFeatures = k
        self.scales = scales
        let np = Kernels.paddedColumns(n), kp = Kernels.int8PaddedDepth(k)
        var packed = [Int8](repeating: 0, count: np * kp)
        var sums = [Int32](repeating: 0, count: np)
        values.withUnsafeBufferPointer { qp in
            packed.withUnsafeMutableBufferPointer { pp in
                sums.withUnsafeMutableBufferPointer { cp in
                    Kernels.int8Pack(qp.baseAddress!, n: n, k: k, into: pp.baseAddress!, columnSums: cp.baseAddress!)
                }
            }
        }
        self.packed = packed
        columnSums = sums
        paddedScales = scales + [Float](repeating: 0, count: np - n)
    }

    /// The row-major (out × in) int8 values, as stored in a file (unpacked from the panels; only the packed
    /// copy is kept in memory).
    package var values: [Int8] {
        let (n, k) = (outFeatures, inFeatures), kg = paddedDepth / 4
        var out = [Int8](repeating: 0, count: n * k)
        for j in 0..<n { for t in 0..<k { out[j * k + t] = packed[((j / 16) * kg + t / 4) * 64 + (j % 16) * 4 + t % 4] } }
        return out
    }

    /// The dequantised (out × in) matrix `q · scale`.
    package var dequantized: Tensor {
        let k = inFeatures, q = values
        return Tensor(shape: [outFeatures, k], scalars: q.indices.map { Float(q[$0]) * scales[$0 / k] })
    }
}

/// A weight matrix rounded to bf16, packed for the bf16 GEMM.
package struct BF16Weights: Sendable {
    package let outFeatures: Int, inFeatures: Int
    let packed: [UInt16]
    var paddedDepth: Int { Kernels.bf16PaddedDepth(inFeatures) }

    /// Rounds a row-major (out × in) float matrix to bf16 (nearest even).
    package init(rounding w: Tensor) {
        precondition(w.rank == 2, "BF16Weights: 2-D weight expected")
        self.init(bits: w.scalars.map(Kernels.bf16), outFeatures: w.shape[0], inFeatures: w.shape[1])
    }

    /// Already rounded bf16 bits.
    package init(bits: [UInt16], outFeatures n: Int, inFeatures k: Int) {
        precondition(bits.count == n * k, "BF16Weights: \(bits.count) values for \(n)×\(k)")
        outFeatures = n
        inFeatures = k
        var packed = [UInt16](repeating: 0, count: Kernels.paddedColumns(n) * Kernels.bf16PaddedDepth(k))
        bits.withUnsafeBufferPointer { b in
            packed.withUnsafeMutableBufferPointer { Kernels.bf16PackBits(b.baseAddress!, n: n, k: k, into: $0.baseAddress!) }
        }
        self.packed = packed
    }

    /// Row-major (out × in) bf16 bits, as stored in a file (unpacked from the panels).
    package var values: [UInt16] {
        let (n, k) = (outFeatures, inFeatures), kg = paddedDepth / 2
        var out = [UInt16](repeating: 0, count: n * k)
        for j in 0..<n { for t in 0..<k { out[j * k + t] = packed[((j / 16) * kg + t / 2) * 32 + (j % 16) * 2 + t % 2] } }
        return out
    }

    /// The (out × in) matrix of the bf16 values as floats.
    package var dequantized: Tensor {
        Tensor(shape: [outFeatures, inFeatures], scalars: values.map { Float(bitPattern: UInt32($0) << 16) })
    }
}

/// The reduced-precision GEMM of a Linear layer: `out[r] = act(x[r]·Wᵀ + b)` for `rows` rows.
package enum ReducedPrecisionGEMM {
    /// Rows per quantise-then-multiply tile (a multiple of the micro-kernels' 6 rows).
    static let tileRows = 48

    /// int8: each tile's rows are quantised into per-thread scratch, then multiplied.
    package static func run(_ w: Int8Weights, rows: Int, x: UnsafePointer<Float>, ldx: Int,
                            bias: UnsafePointer<Float>?, activation: FusedActivation,
                            out: UnsafeMutablePointer<Float>, ldo: Int, variant: Int8KernelVariant? = nil) {
        if rows == 0 || w.outFeatures == 0 { return }
        let k = w.inFeatures, n = w.outFeatures, kp = w.paddedDepth, step = tileRows
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
        let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        let tiles = (rows + step - 1) / step
        w.packed.withUnsafeBufferPointer { packed in
        w.columnSums.withUnsafeBufferPointer { sums in
        w.paddedScales.withUnsafeBufferPointer { scales in
            let pk = SendablePointer(UnsafeMutablePointer(mutating: packed.baseAddress!))
            let cs = SendablePointer(UnsafeMutablePointer(mutating: sums.baseAddress!))
            let ws = SendablePointer(UnsafeMutablePointer(mutating: scales.baseAddress!))
            Parallel.forRanges(tiles, minimumPerThread: 1) { range in
                let qa = UnsafeMutablePointer<Int8>.allocate(capacity: step * kp)
                let sa = UnsafeMutablePointer<Float>.allocate(capacity: step)
                defer { qa.deallocate(); sa.deallocate() }
                for t in range {
                    let r0 = t * step, m = min(step, rows - r0)
                    Kernels.int8QuantizeRows(xp.pointer + r0 * ldx, ldx: ldx, rows: m, k: k, into: qa, ldq: kp, scales: sa,
                                             variant: variant)
                    Kernels.int8GEMM(a: qa, lda: kp, aScales: sa, m: m, packed: pk.pointer, columnSums: cs.pointer,
                                     wScales: ws.pointer, n: n, paddedDepth: kp, bias: bp.map { UnsafePointer($0.pointer) },
                                     activation: activation, out: op.pointer + r0 * ldo, ldo: ldo, variant: variant)
                }
            }
        }
        }
        }
    }

    /// bf16: each tile's rows are rounded to bf16 into per-thread scratch, then multiplied.
    package static func run(_ w: BF16Weights, rows: Int, x: UnsafePointer<Float>, ldx: Int,
                            bias: UnsafePointer<Float>?, activation: FusedActivation,
                            out: UnsafeMutablePointer<Float>, ldo: Int, variant: BF16KernelVariant? = nil) {
        if rows == 0 || w.outFeatures == 0 { return }
        let k = w.inFeatures, n = w.outFeatures, kp = w.paddedDepth, step = tileRows
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
        let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        let tiles = (rows + step - 1) / step
        w.packed.withUnsafeBufferPointer { packed in
            let pk = SendablePointer(UnsafeMutablePointer(mutating: packed.baseAddress!))
            Parallel.forRanges(tiles, minimumPerThread: 1) { range in
                let qa = UnsafeMutablePointer<UInt16>.allocate(capacity: step * kp)
                defer { qa.deallocate() }
                for t in range {
                    let r0 = t * step, m = min(step, rows - r0)
                    Kernels.bf16ConvertRows(xp.pointer + r0 * ldx, ldx: ldx, rows: m, k: k, into: qa, ldq: kp, variant: variant)
                    Kernels.bf16GEMM(a: qa, lda: kp, m: m, packed: pk.pointer, n: n, paddedDepth: kp,
                                     bias: bp.map { UnsafePointer($0.pointer) }, activation: activation,
                                     out: op.pointer + r0 * ldo, ldo: ldo, variant: variant)
                }
            }
        }
    }
}
