import Foundation
import Imaging
import MedSAM
import MedSAMTools
import MedicalIO

/// Runs model work on two serial queues of its own: image-encoder passes on one, prompt encoder + mask decoder
/// jobs on the other, so a box on a cached embedding never waits behind another image's multi-second encoder
/// run; neither blocks the server's event loops or Swift's cooperative pool. (The package's parallel loops are
/// re-entrant: an encoder pass and a decoder job may run at the same time.)
public final class ComputeEngine: Sendable {
    public let segmenter: Segmenter
    private let encoderQueue = DispatchQueue(label: "medsam.serve.encoder", qos: .userInitiated)
    private let decoderQueue = DispatchQueue(label: "medsam.serve.decoder", qos: .userInteractive)

    public init(segmenter: Segmenter) { self.segmenter = segmenter }

    /// Runs `body` (an image-encoder pass) on the encoder queue and returns its result.
    public func runEncoder<T: Sendable>(_ body: @escaping @Sendable (Segmenter) throws -> T) async throws -> T {
        try await Self.run(on: encoderQueue, segmenter, body)
    }

    /// Runs `body` (prompt encoder + mask decoder on a cached embedding) on the decoder queue.
    public func runDecoder<T: Sendable>(_ body: @escaping @Sendable (Segmenter) throws -> T) async throws -> T {
        try await Self.run(on: decoderQueue, segmenter, body)
    }

    private static func run<T: Sendable>(on queue: DispatchQueue, _ segmenter: Segmenter,
                                         _ body: @escaping @Sendable (Segmenter) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(segmenter) }) }
        }
    }
}

/// One uploaded file, kept open so any slice can be shown and segmented under any window.
struct StoredImage: Sendable {
    let id: String
    let name: String
    let folder: URL
    let source: ImageSource
    let isCT: Bool
    let defaultWindow: String
    let windowDescription: String
    /// The browser session (cookie) that uploaded it; "" for clients without one.
    var session: String = ""
    /// Memory held by the decoded values in their stored types (``ImageSource/storedBytes``), counted against the
    /// budget.
    var bytes: Int = 0
    var masks: [String: StoredMask] = [:]
    /// Mask ids in creation order (a replacing mask takes the place of the one it replaces).
    var maskOrder: [String] = []
    var maskBytes: Int { masks.values.reduce(0) { $0 + $1.bytes } }
}

/// One segmentation result of a box/point prompt on one slice, kept run-length coded (a 20,000² mask of one
/// structure is a few hundred KB instead of 400 MB).
struct StoredMask: Sendable {
    let id: String
    let slice: Int
    let window: String
    let box: Box?
    let points: [Point]
    let width: Int
    let height: Int
    /// ``RunLength`` code of the 0/1 mask (row-major, background first).
    let rle: [Int]
    let iou: Float
    let embeddingSeconds: Double
    let decoderSeconds: Double
    let area: Int

    init(id: String, slice: Int, window: String, box: Box?, points: [Point], width: Int, height: Int, mask: [UInt8],
         iou: Float, embeddingSeconds: Double, decoderSeconds: Double) {
        self.id = id; self.slice = slice; self.window = window; self.box = box; self.points = points
        self.width = width; self.height = height; self.iou = iou
        self.embeddingSeconds = embeddingSeconds; self.decoderSeconds = decoderSeconds
        let runs = RunLength.encode(mask)
        rle = runs
        area = stride(from: 1, to: runs.count, by: 2).reduce(0) { $0 + runs[$1] }
    }

    var bytes: Int { rle.count * MemoryLayout<Int>.size + 256 }

    /// Calls `body` with each foreground run as a range of row-major pixel indices.
    func forEachForegroundRun(_ body: (Range<Int>) -> Void) {
        var i = 0
        for (k, r) in rle.enumerated() {
            if k % 2 == 1 && r > 0 { body(i..<(i + r)) }
            i += r
        }
    }
}

/// Identifies an image embedding: the same slice under another window is another image for the model.
struct EmbeddingKey: Hashable, Sendable {
    let image: String
    let slice: Int
    let window: String
}

/// All server state: uploaded images (each in its own folder under the working folder), their masks, and a
/// least-recently-used cache of image embeddings. An actor, so requests from many connections never race.
///
/// Memory: decoded images, embeddings and masks are counted against ``ServerConfiguration/memoryBudgetBytes``.
/// When it is full, least recently used embeddings go first (they can be recomputed), then the least recently
/// used images of the session that needs the room, and only then other sessions' images. Beyond
/// ``ServerConfiguration/maxImages`` per session, that session's own least recently used image goes.
actor ImageStore {
    let limits: ServerConfiguration
    let engine: ComputeEngine
    private var images: [String: StoredImage] = [:]
    /// Image ids, least recently used first.
    private var imageOrder: [String] = []
    private var embeddings: [EmbeddingKey: (ImageEmbedding, bytes: Int)] = [:]
    private var embeddingOrder: [EmbeddingKey] = []
    /// Embeddings being computed: a second request for the same key waits for the first instead of recomputing.
    private var pending: [EmbeddingKey: Task<ImageEmbedding, any Error>] = [:]

    init(limits: ServerConfiguration, engine: ComputeEngine) {
        self.limits = limits
        self.engine = engine
    }

    /// Working memory reserved by requests in progress (``reserve(_:on:what:)``).
    private(set) var inFlightBytes = 0

    /// Bytes held now: decoded images, their masks, embeddings, and the working memory of requests in progress.
    var bytesInUse: Int {
        images.values.reduce(0) { $0 + $1.bytes + $1.maskBytes } + embeddings.values.reduce(0) { $0 + $1.bytes }
            + inFlightBytes
    }

    // MARK: working memory of requests in progress

    /// Reserves `bytes` of working memory for a request on image `id` (a mask's full-size probabilities, a slice
    /// being windowed, a label file being built), making room as ``add(_:)`` does; give it back with
    /// ``release(_:)``.
    /// - Throws: 413 when the image and this request together need more than the budget; 503 when the room is
    ///   held by other requests in progress (retry).
    func reserve(_ bytes: Int, on id: String, what: String) throws(APIError) {
        let img = try image(id)
        let budget = limits.memoryBudgetBytes
        let (needed, o) = (img.bytes + img.maskBytes).addingReportingOverflow(bytes)
        guard !o, needed <= budget else {
            throw APIError(413, "\(what) on \(img.name) needs about \(bytes >> 20) MB of working memory besides the image's "
                           + "\(img.bytes >> 20) MB, more than the server's memory budget of \(budget >> 20) MB (--memory-budget)")
        }
        makeRoom(bytes, for: img.session, keeping: id)
        guard bytesInUse + bytes <= budget else {
            throw APIError(503, "the server's memory budget is held by requests in progress; retry in a moment")
        }
        inFlightBytes += bytes
    }

    /// Gives back working memory reserved with ``reserve(_:on:what:)``.
    func release(_ bytes: Int) { inFlightBytes -= bytes }

    // MARK: images

    /// Stores an uploaded image, making room within the budget.
    /// - Throws: 413 when the image alone needs more than the budget.
    func add(_ image: StoredImage) throws(APIError) {
        guard image.bytes <= limits.memoryBudgetBytes else {
            throw APIError(413, "\(image.name) needs \(image.bytes >> 20) MB decoded, more than the server's memory budget of "
                           + "\(limits.memoryBudgetBytes >> 20) MB (--memory-budget)")
        }
        let own = imageOrder.filter { images[$0]?.session == image.session }
        if own.count >= limits.maxImages { remove(own[0]) }
        makeRoom(image.bytes, for: image.session)
        images[image.id] = image
        imageOrder.append(image.id)
    }

    /// Evicts until `needed` more bytes fit: embeddings (LRU), then `session`'s own images, then others' (LRU).
    private func makeRoom(_ needed: Int, for session: String, keeping keep: String? = nil) {
        let budget = limits.memoryBudgetBytes
        while bytesInUse + needed > budget, let key = embeddingOrder.first {
            embeddingOrder.removeFirst()
            embeddings[key] = nil
        }
        while bytesInUse + needed > budget,
              let victim = imageOrder.first(where: { $0 != keep && images[$0]?.session == session })
                ?? imageOrder.first(where: { $0 != keep }) {
            remove(victim)
        }
    }

    func image(_ id: String) throws(APIError) -> StoredImage {
        guard let img = images[id] else {
            throw APIError(404, "unknown image id \(id) (an image is dropped after \(limits.maxImages) newer ones from the same "
                           + "page, or when the server's memory budget needs the room)")
        }
        if let i = imageOrder.firstIndex(of: id) { imageOrder.remove(at: i); imageOrder.append(id) }
        return img
    }

    @discardableResult
    func remove(_ id: String) -> Bool {
        guard let img = images.removeValue(forKey: id) else { return false }
        imageOrder.removeAll { $0 == id }
        for key in embeddings.keys where key.image == id { embeddings[key] = nil }
        embeddingOrder.removeAll { $0.image == id }
        try? FileManager.default.removeItem(at: img.folder)
        return true
    }

    var imageCount: Int { images.count }
    var embeddingCount: Int { embeddings.count }
    /// Image encoder passes run so far (a cached or shared embedding does not count).
    private(set) var encoderPasses = 0

    // MARK: embeddings

    /// The embedding of slice `slice` under `window`, computed at most once; `cached` is false when this call
    /// computed it (or waited for another request computing it). `image` (the windowed slice) is only asked for
    /// when the embedding has to be computed.
    func embedding(image id: String, slice: Int, window: String,
                   image makeImage: @escaping @Sendable () async throws -> Image) async throws -> (ImageEmbedding, seconds: Double, cached: Bool) {
        let key = EmbeddingKey(image: id, slice: slice, window: window)
        if let e = embeddings[key] {
            touch(key)
            return (e.0, 0, true)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let task: Task<ImageEmbedding, any Error>
        if let running = pending[key] {
            task = running
        } else {
            let engine = self.engine
            task = Task {
                let image = try await makeImage()
                return try await engine.runEncoder { try $0.embed(image) }
            }
            pending[key] = task
            encoderPasses += 1
        }
        let embedding: ImageEmbedding
        do {
            embedding = try await task.value
        } catch {
            pending[key] = nil
            throw error
        }
        pending[key] = nil
        if let img = images[id], embeddings[key] == nil {
            let bytes = embedding.tensor.count * MemoryLayout<Float>.size
            makeRoom(bytes, for: img.session, keeping: id)
            if images[id] != nil && bytesInUse + bytes <= limits.memoryBudgetBytes {
                embeddings[key] = (embedding, bytes)
                embeddingOrder.append(key)
                while embeddingOrder.count > limits.maxEmbeddings {
                    embeddings[embeddingOrder.removeFirst()] = nil
                }
            }
        }
        return (embedding, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, false)
    }

    private func touch(_ key: EmbeddingKey) {
        if let i = embeddingOrder.firstIndex(of: key) { embeddingOrder.remove(at: i); embeddingOrder.append(key) }
    }

    // MARK: masks

    /// Stores `mask` on image `id`; with `replacing`, the new mask takes the old one's place in the order.
    func store(_ mask: StoredMask, on id: String, replacing old: String?) throws(APIError) {
        guard images[id] != nil else { throw APIError(404, "image \(id) was removed while its mask was computed") }
        makeRoom(mask.bytes, for: images[id]!.session, keeping: id)
        guard var img = images[id] else { throw APIError(404, "image \(id) was removed while its mask was computed") }
        if let old {
            guard img.masks[old] != nil, let i = img.maskOrder.firstIndex(of: old) else {
                throw APIError(404, "unknown mask id \(old)")
            }
            img.masks[old] = nil
            img.maskOrder[i] = mask.id
        } else {
            guard img.maskOrder.count < limits.maxMasksPerImage else {
                throw APIError(400, "image \(id) already has \(limits.maxMasksPerImage) masks; delete some first")
            }
            img.maskOrder.append(mask.id)
        }
        img.masks[mask.id] = mask
        images[id] = img
    }

    func mask(_ maskId: String, on id: String) throws(APIError) -> StoredMask {
        guard let m = try image(id).masks[maskId] else { throw APIError(404, "unknown mask id \(maskId)") }
        return m
    }

    func removeMask(_ maskId: String, on id: String) throws(APIError) {
        var img = try image(id)
        guard img.masks.removeValue(forKey: maskId) != nil else { throw APIError(404, "unknown mask id \(maskId)") }
        img.maskOrder.removeAll { $0 == maskId }
        images[id] = img
    }
}
