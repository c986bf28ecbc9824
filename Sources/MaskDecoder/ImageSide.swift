import NN
import Tensor

/// One two-way layer's prompt-independent projections of an image's tokens: the token→image attention's
/// `K = k_proj(keys + PE)` and `V = v_proj(keys)`, and the image→token attention's `Q = q_proj(keys + PE)`,
/// each (h·w, internalDim) rows.
struct ImageProjections: @unchecked Sendable {
    let k: TensorStorage
    let v: TensorStorage
    let q: TensorStorage
}

/// The prompt-independent part of the mask decoder for one image embedding (and one dense prompt
/// embedding, the no-mask embedding for box and point prompts), computed once by
/// ``MaskDecoder/prepare(imageEmbedding:imagePE:dense:precomputeFirstLayer:)`` and shared by every prompt on
/// that image.
///
/// Holds the image tokens `src = embedding + dense` and the image positional encoding as (h·w, C) rows, and (when
/// precomputed) the first two-way layer's image projections, which do not depend on the prompt.
public struct DecoderImageContext: @unchecked Sendable {
    public let height: Int
    public let width: Int
    public let channels: Int
    /// (h·w, C) image tokens (embedding + dense).
    let src: TensorStorage
    /// (h·w, C) image positional encoding.
    let keyPE: TensorStorage
    /// The first layer's image projections, when precomputed.
    let firstLayer: ImageProjections?
    /// Largest attention width of the decoder (sizes the workspace).
    let internalDim: Int

    /// Whether the first layer's image projections were precomputed.
    public var hasPrecomputedProjections: Bool { firstLayer != nil }
}

/// Scratch buffers of the decoder's image side, reusable across prompts of one image size; used by one call
/// at a time.
public final class DecoderWorkspace: @unchecked Sendable {
    let tokens: Int
    let channels: Int
    let internalDim: Int
    /// (h·w, C): the current image keys (`keys + PE` is formed block by block where it is used, never stored:
    /// one prompt's image side is 4 MB for a 64×64 embedding, so that several prompts and the shared context
    /// stay in the last-level cache together).
    let keys: TensorStorage

    init(tokens: Int, channels: Int, internalDim: Int) {
        self.tokens = tokens; self.channels = channels; self.internalDim = internalDim
        keys = TensorStorage(uninitializedCount: tokens * channels)
    }

    /// Whether the workspace serves images of `context`'s size.
    public func fits(_ context: DecoderImageContext) -> Bool {
        tokens == context.height * context.width && channels == context.channels && internalDim == context.internalDim
    }
}

/// The image side of the two-way transformer during one forward pass: the current keys as (h·w, C) rows, the
/// positional encoding (the layers add it block by block where they need `keys + PE`), and the workspace the
/// layers write into. It starts on a prepared ``DecoderImageContext`` (read only) or on its own copies of the
/// image tokens.
struct ImageSide {
    let rows: Int
    let channels: Int
    private(set) var keys: UnsafeMutablePointer<Float>
    let keyPE: UnsafeMutablePointer<Float>
    let workspace: DecoderWorkspace
    /// Storage the pointers above point into.
    private let owners: [TensorStorage]

    /// On a prepared context: the context's buffers are read, never written.
    init(context: DecoderImageContext, workspace: DecoderWorkspace) {
        rows = context.height * context.width
        channels = context.channels
        keys = context.src.pointer
        keyPE = context.keyPE.pointer
        self.workspace = workspace
        owners = [context.src, context.keyPE]
    }

    /// On (n, C) key rows and (n, C) positional encoding rows (copied).
    init(rows keys: Tensor, pe: Tensor, internalDim: Int) {
        let (n, c) = (keys.shape[0], keys.shape[1])
        let ws = DecoderWorkspace(tokens: n, channels: c, internalDim: internalDim)
        let peRows = TensorStorage(uninitializedCount: n * c)
        keys.withUnsafeBufferPointer { ws.keys.pointer.update(from: $0.baseAddress!, count: n * c) }
        pe.withUnsafeBufferPointer { peRows.pointer.update(from: $0.baseAddress!, count: n * c) }
        self.rows = n; channels = c
        self.keys = ws.keys.pointer; keyPE = peRows.pointer
        workspace = ws
        owners = [peRows]
    }

    /// On (1, C, h, w) image planes and positional encoding planes (transposed into rows).
    init(planes: Tensor, pe: Tensor, internalDim: Int) {
        let (c, n) = (planes.shape[1], planes.shape[2] * planes.shape[3])
        let ws = DecoderWorkspace(tokens: n, channels: c, internalDim: internalDim)
        let peRows = TensorStorage(uninitializedCount: n * c)
        planes.withUnsafeBufferPointer { transposePlanes($0.baseAddress!, plus: nil, into: ws.keys.pointer, channels: c, pixels: n) }
        pe.withUnsafeBufferPointer { transposePlanes($0.baseAddress!, plus: nil, into: peRows.pointer, channels: c, pixels: n) }
        self.rows = n; channels = c
        self.keys = ws.keys.pointer; keyPE = peRows.pointer
        workspace = ws
        owners = [peRows]
    }

    /// Rows per block of the fused image update (a multiple of both own-GEMM tile heights, 6 and 12).
    static let rowBlock = 48

    /// The image→token attention's update of the image tokens, one block of image rows at a time so that the
    /// block's scores and update stay in cache:
    ///
    ///     S = softmax over the tokens j, per head h, of (a·Gᵀ + g)    (columns ordered j·heads + h)
    ///     keys = norm(keys + S·Vᵀᵀ + bias)
    ///
    /// `a` (h·w, G's depth) rows of stride `lda` are the image queries: precomputed `q_proj` rows, or, when nil,
    /// `keys + PE` (formed per block, G's depth is then C). `scores` is G (heads·tokens × depth) with `scoreBias`
    /// g (or nil), `values` maps the heads·tokens probabilities to the C channels (`out_proj` already folded in).
    /// The result lives in the workspace (the context, if any, is not written); a block reads only its own rows
    /// before writing them, so the update may run in place.
    mutating func attendTokens(queries a: UnsafePointer<Float>?, lda: Int, scores: FP32GEMMOperand, scoreBias: UnsafePointer<Float>?,
                               heads: Int, tokens: Int, values: FP32GEMMOperand, bias: Tensor?, norm: LayerNorm) {
        let (n, dim) = (rows, channels)
        let cols = heads * tokens
        precondition(scores.outFeatures == cols && values.inFeatures == cols && values.outFeatures == dim
                     && (a != nil || scores.inFeatures == dim),
                     "image→token operands do not match \(heads) heads × \(tokens) tokens and \(dim) channels")
        let src = SendablePointer(keys), dst = SendablePointer(workspace.keys.pointer)
        let pe = SendablePointer(keyPE)
        let ap = a.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        let gp = scoreBias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        let bp = bias.map { b in b.withUnsafeBufferPointer { SendablePointer(UnsafeMutablePointer(mutating: $0.baseAddress!)) } }
        let wp = SendablePointer(norm.weight.storagePointer), nb = SendablePointer(norm.bias.storagePointer)
        let eps = norm.eps, block = Self.rowBlock
        let units = (n + block - 1) / block
        Parallel.forRanges(units, minimumPerThread: 4) { range in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: block * cols)
            let t = UnsafeMutablePointer<Float>.allocate(capacity: block * dim)
            let q = ap == nil ? UnsafeMutablePointer<Float>.allocate(capacity: block * dim) : nil
            defer { s.deallocate(); t.deallocate(); q?.deallocate() }
            for u in range {
                let r0 = u * block, m = min(n, r0 + block) - r0
                let x: UnsafePointer<Float>, ldx: Int
                if let ap {
                    (x, ldx) = (UnsafePointer(ap.pointer + r0 * lda), lda)
                } else {
                    Kernels.add(src.pointer + r0 * dim, pe.pointer + r0 * dim, into: q!, count: m * dim)
                    (x, ldx) = (UnsafePointer(q!), dim)
                }
                scores.product(rows: m, x: x, ldx: ldx, bias: gp.map { UnsafePointer($0.pointer) }, out: s, ldo: cols)
                Kernels.softmaxLanes(s, rows: m, stride: cols, groups: 1, count: tokens, lanes: heads)
                values.product(rows: m, x: s, ldx: cols, bias: bp.map { UnsafePointer($0.pointer) },
                               residual: src.pointer + r0 * dim, ldr: dim, out: t, ldo: dim)
                Kernels.layerNormRows(t, dst.pointer + r0 * dim, rows: m, columns: dim, weight: wp.pointer, bias: nb.pointer, eps: eps)
            }
        }
        withExtendedLifetime((bias, norm, owners)) {}
        keys = workspace.keys.pointer
    }

    /// A copy of the current keys, (h·w, C).
    func keysTensor() -> Tensor {
        var t = Tensor(uninitializedShape: [rows, channels])
        t.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: keys, count: rows * channels) }
        withExtendedLifetime(owners) {}
        return t
    }
}

/// Rows `[r0, r1)` of `(rows, cols)` matrices: `out = a + b` (out may alias a).
@inline(__always)
func addRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
             rows: Int, cols: Int) {
    let pa = SendablePointer(UnsafeMutablePointer(mutating: a))
    let pb = SendablePointer(UnsafeMutablePointer(mutating: b))
    let po = SendablePointer(out)
    Parallel.forRanges(rows, minimumPerThread: max(1, 16384 / max(cols, 1))) { r in
        let off = r.lowerBound * cols
        Kernels.add(pa.pointer + off, pb.pointer + off, into: po.pointer + off, count: r.count * cols)
    }
}

/// (C, n) planes + optional (C, n) planes → (n, C) rows.
func transposePlanes(_ a: UnsafePointer<Float>, plus b: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
                     channels c: Int, pixels n: Int) {
    let pa = SendablePointer(UnsafeMutablePointer(mutating: a))
    let pb = b.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
    let po = SendablePointer(out)
    Parallel.forRanges(n, minimumPerThread: 256) { r in
        Kernels.transposeAdd(pa.pointer, pb?.pointer, into: po.pointer, rows: c, columns: n, outputRows: r)
    }
}

extension Tensor {
    /// The storage's base address; valid while the tensor (or a copy sharing its storage) is alive.
    /// Read-only use only.
    var storagePointer: UnsafeMutablePointer<Float> {
        withUnsafeBufferPointer { UnsafeMutablePointer(mutating: $0.baseAddress!) }
    }
}
