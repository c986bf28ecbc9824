import Foundation
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
    var masks: [String: StoredMask] = [:]
    /// Mask ids in creation order (a replacing mask takes the place of the one it replaces).
    var maskOrder: [String] = []
}

/// One segmentation result of a box/point prompt on one slice.
struct StoredMask: Sendable {
    let id: String
    let slice: Int
    let window: String
    let box: Box?
    let points: [Point]
    let width: Int
    let height: Int
    /// 0/1 per pixel, row-major.
    let mask: [UInt8]
    let iou: Float
    let embeddingSeconds: Double
    let decoderSeconds: Double
    var area: Int { mask.reduce(0) { $0 + Int($1) } }
}

/// Identifies an image embedding: the same slice under another window is another image for the model.
struct EmbeddingKey: Hashable, Sendable {
    let image: String
    let slice: Int
    let window: String
}

/// All server state: uploaded images (each in its own folder under the working folder), their masks, and a
/// small least-recently-used cache of image embeddings. An actor, so requests from many connections never race.
actor ImageStore {
    let limits: ServerConfiguration
    let engine: ComputeEngine
    private var images: [String: StoredImage] = [:]
    /// Image ids, least recently used first.
    private var imageOrder: [String] = []
    private var embeddings: [EmbeddingKey: ImageEmbedding] = [:]
    private var embeddingOrder: [EmbeddingKey] = []
    /// Embeddings being computed: a second request for the same key waits for the first instead of recomputing.
    private var pending: [EmbeddingKey: Task<ImageEmbedding, any Error>] = [:]

    init(limits: ServerConfiguration, engine: ComputeEngine) {
        self.limits = limits
        self.engine = engine
    }

    // MARK: images

    func add(_ image: StoredImage) {
        images[image.id] = image
        imageOrder.append(image.id)
        while imageOrder.count > limits.maxImages {
            remove(imageOrder[0])
        }
    }

    func image(_ id: String) throws(APIError) -> StoredImage {
        guard let img = images[id] else { throw APIError(404, "unknown image id \(id) (uploaded images are kept until \(limits.maxImages) newer ones arrive)") }
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
            return (e, 0, true)
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
        if images[id] != nil, embeddings[key] == nil {
            embeddings[key] = embedding
            embeddingOrder.append(key)
            while embeddingOrder.count > limits.maxEmbeddings {
                embeddings[embeddingOrder.removeFirst()] = nil
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
