import Foundation
import Imaging
import MedSAM
import MedSAMTools
import MedicalIO

/// A request as the API sees it, independent of the HTTP framework (the Hummingbird adapter in
/// `HTTPServer.swift` builds these; tests can call ``ServerAPI/handle(_:)`` directly).
public struct APIRequest: Sendable {
    public var method: String
    /// Path without the query, percent-encoded as received (e.g. `/api/images/ab12…/slices/0/masks`).
    public var path: String
    public var query: [String: String]
    public var body: Data
    /// The browser session (the page's `medsam_session` cookie): images are evicted per session first.
    public var session: String
    public init(method: String, path: String, query: [String: String] = [:], body: Data = Data(), session: String = "") {
        self.method = method; self.path = path; self.query = query; self.body = body; self.session = session
    }
}

/// An answer: status, content type, body and extra headers.
public struct APIResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: Data
    public var headers: [String: String] = [:]

    static func json(_ value: some Encodable, status: Int = 200) -> APIResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return APIResponse(status: status, contentType: "application/json", body: data)
    }

    static func error(_ e: APIError) -> APIResponse {
        json(["error": e.message], status: e.status)
    }

    static func empty() -> APIResponse { APIResponse(status: 204, contentType: "text/plain", body: Data()) }
}

/// The JSON API of `medsam serve` (documented in `docs/SERVE.md`) and the page's static files.
///
/// ```swift
/// let segmenter = try Segmenter(.liteMedSAM, checkpoint: url)
/// let api = try ServerAPI(segmenter: segmenter, configuration: ServerConfiguration(workdir: folder))
/// let info = await api.handle(APIRequest(method: "GET", path: "/api/info"))
/// ```
public struct ServerAPI: Sendable {
    public let configuration: ServerConfiguration
    let store: ImageStore
    let engine: ComputeEngine
    let web: WebResources

    /// Checks the configuration, creates the working folder if needed (mode 0700; an existing one must be owned
    /// by this user and not writable by others) and finds the page's files.
    /// - Throws: `ToolError` for a server bound beyond loopback without a token, a malformed `--allow-host` name
    ///   or token, an unsafe working folder, or missing page files.
    public init(segmenter: Segmenter, configuration: ServerConfiguration) throws {
        self.configuration = configuration
        let token = configuration.token ?? ""
        if !configuration.isLoopback && token.isEmpty {
            throw ToolError("--host \(configuration.host) makes the server reachable from other machines: it needs a token "
                            + "(the default; do not pass an empty --token)")
        }
        if !token.isEmpty && !RequestGuard.isValidToken(token) {
            throw ToolError("--token: use 16…256 characters of A-Z, a-z, 0-9, '-', '_', '.'")
        }
        for name in configuration.allowedHosts {
            guard let parsed = RequestGuard.hostName(name), parsed == name.lowercased() else {
                throw ToolError("--allow-host '\(name)': give a host name or IP literal without port or scheme")
            }
        }
        if FileManager.default.fileExists(atPath: configuration.workdir.path) {
            try WorkFolder.checkPrivate(configuration.workdir)
        } else {
            try WorkFolder.makePrivateDirectory(configuration.workdir)
        }
        self.engine = ComputeEngine(segmenter: segmenter)
        self.store = ImageStore(limits: configuration, engine: engine)
        self.web = try WebResources(root: configuration.webRoot)
    }

    public var model: ModelKind { engine.segmenter.model }

    /// Answers one request; never throws: every failure becomes a JSON error with a 4xx/5xx status.
    public func handle(_ request: APIRequest) async -> APIResponse {
        do {
            return try await route(request)
        } catch let e as APIError {
            return .error(e)
        } catch {
            return .error(APIError(400, oneLineDescription(error)))
        }
    }

    // MARK: routing

    private func route(_ r: APIRequest) async throws -> APIResponse {
        let isUpload = r.method.uppercased() == "POST" && r.path == "/api/images"
        guard isUpload || r.body.count <= configuration.maxJSONBytes else {
            throw APIError(413, "request body of \(r.body.count) bytes exceeds the limit of \(configuration.maxJSONBytes) bytes")
        }
        let parts = r.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let method = r.method.uppercased()
        func only(_ allowed: String) throws(APIError) {
            guard method == allowed || (allowed == "GET" && method == "HEAD") else {
                throw APIError(405, "\(method) \(r.path): use \(allowed)")
            }
        }
        if parts.count <= 1, parts.first.map({ $0 != "api" }) ?? true {
            try only("GET")
            return try web.file(parts.first ?? "index.html")
        }
        guard parts[0] == "api" else { throw APIError(404, "no such page: \(r.path)") }
        let rest = Array(parts.dropFirst())
        switch rest.count {
        case 1 where rest[0] == "info":
            try only("GET")
            return .json(info())
        case 1 where rest[0] == "images":
            try only("POST")
            return try await upload(name: r.query["name"] ?? "upload", body: r.body, session: r.session)
        case 2 where rest[0] == "images":
            let id = try Self.id(rest[1])
            if method == "DELETE" {
                guard await store.remove(id) else { throw APIError(404, "unknown image id \(id)") }
                return .empty()
            }
            try only("GET")
            return .json(imageInfo(try await store.image(id)))
        case 3 where rest[0] == "images" && (rest[2] == "labels.png" || rest[2] == "labels.nii.gz"):
            try only("GET")
            return try await labels(image: try Self.id(rest[1]), masks: r.query["masks"] ?? "", nifti: rest[2] != "labels.png")
        case 4 where rest[0] == "images" && rest[2] == "masks":
            let id = try Self.id(rest[1]), maskId = try Self.id(rest[3])
            if method == "DELETE" {
                try await store.removeMask(maskId, on: id)
                return .empty()
            }
            try only("GET")
            return .json(MaskJSON(try await store.mask(maskId, on: id)))
        case 5 where rest[0] == "images" && rest[2] == "slices":
            let id = try Self.id(rest[1])
            guard let k = Int(rest[3]) else { throw APIError(400, "slice '\(rest[3])' is not a number") }
            let window = r.query["window"] ?? "auto"
            switch rest[4] {
            case "image.png":
                try only("GET")
                return try await sliceImage(image: id, slice: k, window: window)
            case "embedding":
                try only("POST")
                return try await embedding(image: id, slice: k, window: window)
            case "masks":
                try only("POST")
                return try await segment(image: id, slice: k, window: window, body: r.body)
            default: break
            }
        default: break
        }
        throw APIError(404, "no such API endpoint: \(r.method) \(r.path)")
    }

    /// Image and mask ids: 32 lowercase hex digits (anything else cannot name a stored object).
    static func id(_ text: String) throws(APIError) -> String {
        guard text.count == 32, text.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw APIError(404, "unknown id '\(text.prefix(40))'")
        }
        return text
    }

    static func newID() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    // MARK: info and upload

    struct Info: Encodable {
        let model: String
        let modelKey: String
        let inputSize: Int
        let maxUploadBytes: Int
        let version: String
        let windows: [String]
    }

    static let windows = ["auto", "soft-tissue", "lung", "bone", "brain", "percentile", "none"]

    func info() -> Info {
        Info(model: model.displayName, modelKey: model.rawValue, inputSize: engine.segmenter.inputSize,
             maxUploadBytes: configuration.maxUploadBytes, version: "0.1.0", windows: Self.windows)
    }

    struct ImageInfo: Encodable {
        let id: String
        let name: String
        let format: String
        let width: Int
        let height: Int
        let slices: Int
        let initialSlice: Int
        let defaultWindow: String
        let windowDescription: String
        let isCT: Bool
        let boxes: [[Double]]
        let downloads: [String]
    }

    func imageInfo(_ img: StoredImage) -> ImageInfo {
        let s = img.source
        let boxes = ((try? s.storedBoxes()) ?? []).map { [$0.x0, $0.y0, $0.x1, $0.y1] }
        var downloads = ["png"]
        if case .nifti = s.content { downloads.append("nii.gz") }
        return ImageInfo(id: img.id, name: img.name, format: s.format.rawValue, width: s.width, height: s.height,
                         slices: s.slices, initialSlice: s.defaultSlice, defaultWindow: img.defaultWindow,
                         windowDescription: img.windowDescription, isCT: img.isCT, boxes: boxes, downloads: downloads)
    }

    /// A client-given file name reduced to a safe single component: letters, digits, `.`, `-`, `_`.
    static func safeName(_ name: String) -> String {
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var s = String(last.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }.map(Character.init))
        while s.hasPrefix(".") { s.removeFirst() }
        if s.count > 100 { s = String(s.suffix(100)) }
        return s.isEmpty ? "upload" : s
    }

    private func upload(name: String, body: Data, session: String) async throws -> APIResponse {
        guard !body.isEmpty else { throw APIError(400, "empty upload: send the file's bytes as the request body") }
        guard body.count <= configuration.maxUploadBytes else {
            throw APIError(413, "upload of \(body.count) bytes exceeds the limit of \(configuration.maxUploadBytes) bytes")
        }
        let id = Self.newID()
        let folder = configuration.workdir.appendingPathComponent(id, isDirectory: true)
        let file = folder.appendingPathComponent(Self.safeName(name))
        do {
            try WorkFolder.makePrivateDirectory(folder)
            try WorkFolder.writePrivateFile(body, to: file)
            // Reading and windowing a large volume takes a while: off the caller's thread.
            // Reader limits derived from the memory budget: a huge image is a typed error before it is allocated.
            let limits = configuration.readerLimits
            let (source, first) = try await engine.runIO {
                let source = try ImageSource.open(file, limits: limits)
                return (source, try source.input(slice: nil, window: nil))
            }
            let isCT = source.modality?.uppercased() == "CT" || first.windowDescription.contains("CT")
            let img = StoredImage(id: id, name: Self.safeName(name), folder: folder, source: source, isCT: isCT,
                                  defaultWindow: "auto", windowDescription: first.windowDescription,
                                  session: session, bytes: source.storedBytes)
            try await store.add(img)
            return .json(imageInfo(img), status: 201)
        } catch let e as APIError {
            try? FileManager.default.removeItem(at: folder)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: folder)
            let text = oneLineDescription(error)
            if case .tooLarge = error as? MedicalIOError {
                throw APIError(413, text + " (the server's memory budget is \(configuration.memoryBudgetBytes >> 20) MB: --memory-budget)")
            }
            if text.contains("unknown file format") { throw APIError(415, text) }
            throw APIError(400, text)
        }
    }

    // MARK: slices, embeddings, masks

    /// The window choice for a `window` query value, and the key embeddings are cached under.
    static func window(_ text: String) throws(APIError) -> (WindowChoice?, String) {
        if text.isEmpty || text.lowercased() == "auto" { return (nil, "auto") }
        do {
            let choice = try ArgumentValues.window(text)
            return (choice, WindowRule.describe(choice))
        } catch {
            throw APIError(400, oneLineDescription(error).replacingOccurrences(of: "--window", with: "window"))
        }
    }

    static func checkSlice(_ slice: Int, of img: StoredImage) throws(APIError) {
        guard (0..<img.source.slices).contains(slice) else {
            throw APIError(400, "slice \(slice): \(img.name) has slices 0…\(img.source.slices - 1)")
        }
    }

    private func input(_ img: StoredImage, slice: Int, window: WindowChoice?) async throws -> SegmentInput {
        try Self.checkSlice(slice, of: img)
        let source = img.source
        return try await engine.runIO { try source.input(slice: slice, window: window) }
    }

    private func sliceImage(image id: String, slice: Int, window: String) async throws -> APIResponse {
        let img = try await store.image(id)
        let (choice, _) = try Self.window(window)
        let input = try await withWorkingMemory(WorkingMemory.slice(img), on: id, what: "slice \(slice)") {
            try await self.input(img, slice: slice, window: choice)
        }
        let png = try PNGFile.encode(input.image)
        var r = APIResponse(status: 200, contentType: "image/png", body: png)
        r.headers["X-Window"] = input.windowDescription
        return r
    }

    struct EmbeddingJSON: Encodable {
        let seconds: Double
        let cached: Bool
        let windowDescription: String
    }

    private func embedding(image id: String, slice: Int, window: String) async throws -> APIResponse {
        let img = try await store.image(id)
        let (choice, key) = try Self.window(window)
        let (input, seconds, cached) = try await withWorkingMemory(WorkingMemory.embedding(img), on: id, what: "an embedding") {
            let input = try await self.input(img, slice: slice, window: choice)
            let (_, seconds, cached) = try await self.store.embedding(image: id, slice: slice, window: key) { input.image }
            return (input, seconds, cached)
        }
        return .json(EmbeddingJSON(seconds: seconds, cached: cached, windowDescription: input.windowDescription))
    }

    struct MaskRequest: Decodable {
        var box: [Double]?
        var points: [[Double]]?
        var replaces: String?
    }

    struct MaskJSON: Encodable {
        struct Seconds: Encodable { let embedding: Double; let decoder: Double }
        let id: String
        let slice: Int
        let window: String
        let box: [Double]?
        let points: [[Double]]
        let width: Int
        let height: Int
        let area: Int
        let iou: Double
        let rle: [Int]
        let seconds: Seconds

        init(_ m: StoredMask) {
            id = m.id; slice = m.slice; window = m.window
            box = m.box.map { [$0.x0, $0.y0, $0.x1, $0.y1] }
            points = m.points.map { [$0.x, $0.y, $0.positive ? 1 : 0] }
            width = m.width; height = m.height; area = m.area; iou = Double(m.iou)
            rle = m.rle
            seconds = Seconds(embedding: m.embeddingSeconds, decoder: m.decoderSeconds)
        }
    }

    static func prompt(_ body: Data) throws(APIError) -> (SegmentationPrompt, replaces: String?) {
        let req: MaskRequest
        do { req = try JSONDecoder().decode(MaskRequest.self, from: body) } catch {
            throw APIError(400, "mask request: expected JSON {\"box\":[x0,y0,x1,y1],\"points\":[[x,y,label]]}")
        }
        var prompt = SegmentationPrompt()
        if let b = req.box {
            guard b.count == 4 else { throw APIError(400, "box: expected [x0,y0,x1,y1], got \(b.count) numbers") }
            prompt.box = Box(x0: b[0], y0: b[1], x1: b[2], y1: b[3])
        }
        for p in req.points ?? [] {
            guard p.count == 2 || p.count == 3, p.allSatisfy(\.isFinite) else {
                throw APIError(400, "points: each point is [x,y] or [x,y,label]")
            }
            let label = p.count == 3 ? p[2] : 1
            guard label == 0 || label == 1 else { throw APIError(400, "points: label must be 1 (object) or 0 (background)") }
            prompt.points.append(Point(x: p[0], y: p[1], positive: label == 1))
        }
        guard prompt.box != nil || !prompt.points.isEmpty else { throw APIError(400, "mask request needs a box or points") }
        guard prompt.points.count <= 64 else { throw APIError(400, "points: at most 64 per mask") }
        let replaces = try req.replaces.map { s throws(APIError) in try id(s) }
        return (prompt, replaces)
    }

    private func segment(image id: String, slice: Int, window: String, body: Data) async throws -> APIResponse {
        let img = try await store.image(id)
        let (choice, key) = try Self.window(window)
        let (prompt, replaces) = try Self.prompt(body)
        do {
            try Pipelines.validate([prompt], width: img.source.width, height: img.source.height)
        } catch {
            throw APIError(400, oneLineDescription(error))
        }
        if let replaces { _ = try await store.mask(replaces, on: id) }
        try Self.checkSlice(slice, of: img)
        let (embeddingSeconds, result, decoderSeconds) = try await withWorkingMemory(
            WorkingMemory.mask(img), on: id, what: "a mask") {
            // The slice is read and windowed only when its embedding is not cached (not once per box).
            let (embedding, embeddingSeconds, _) = try await self.store.embedding(image: id, slice: slice, window: key) {
                try await self.input(img, slice: slice, window: choice).image
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let result = try await self.engine.runDecoder { try $0.segment(embedding, prompts: [prompt]) }
            return (embeddingSeconds, result, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        guard let seg = result.first else { throw APIError(500, "the decoder returned no mask") }
        let mask = StoredMask(id: Self.newID(), slice: slice, window: key, box: prompt.box, points: prompt.points,
                              width: seg.width, height: seg.height, mask: seg.mask, iou: seg.iouScore,
                              embeddingSeconds: embeddingSeconds, decoderSeconds: decoderSeconds)
        try await store.store(mask, on: id, replacing: replaces)
        return .json(MaskJSON(mask), status: 201)
    }

    /// Runs `body` holding `bytes` of the memory budget for this request (``ImageStore/reserve(_:on:what:)``).
    private func withWorkingMemory<T: Sendable>(_ bytes: Int, on id: String, what: String,
                                                _ body: () async throws -> T) async throws -> T {
        try await store.reserve(bytes, on: id, what: what)
        do {
            let value = try await body()
            await store.release(bytes)
            return value
        } catch {
            await store.release(bytes)
            throw error
        }
    }

    // MARK: downloads

    private func labels(image id: String, masks list: String, nifti: Bool) async throws -> APIResponse {
        let img = try await store.image(id)
        // At most one id per stored mask (33 characters each); a repeated id counts once, at its first place.
        let limit = configuration.maxMasksPerImage
        guard list.utf8.count <= limit * 33 else { throw APIError(400, "masks: at most \(limit) ids") }
        var seen = Set<String>(), ids = [String]()
        for s in list.split(separator: ",") {
            let m = try Self.id(String(s))
            if seen.insert(m).inserted { ids.append(m) }
        }
        guard !ids.isEmpty else { throw APIError(400, "masks: list the mask ids to include (masks=ID1,ID2)") }
        var masks = [StoredMask]()
        for m in ids {
            guard let mask = img.masks[m] else { throw APIError(404, "unknown mask id \(m)") }
            masks.append(mask)
        }
        // Building and compressing the label file takes a while on a large volume: off the cooperative pool.
        let chosen = masks
        return try await withWorkingMemory(WorkingMemory.labels(img, nifti: nifti), on: id, what: "a label file") {
            try await self.engine.runIO { try Self.writeLabels(img, masks: chosen, nifti: nifti) }
        }
    }

    static func writeLabels(_ img: StoredImage, masks: [StoredMask], nifti: Bool) throws -> APIResponse {
        let w = img.source.width, h = img.source.height, plane = w * h
        let stem = Self.stem(img.name)
        let tmp = img.folder.appendingPathComponent(".labels-\(Self.newID())" + (nifti ? ".nii.gz" : ".png"))
        defer { try? FileManager.default.removeItem(at: tmp) }
        if nifti {
            guard case .nifti(let n) = img.source.content else {
                throw APIError(400, "labels.nii.gz: only for NIfTI input (\(img.name) is \(img.source.format.rawValue)); use labels.png")
            }
            var all = [UInt16](repeating: 0, count: plane * img.source.slices)
            for (k, m) in masks.enumerated() {
                let base = m.slice * plane, label = UInt16(k + 1)
                m.forEachForegroundRun { run in for i in run { all[base + i] = label } }
            }
            try OutputWriter.writeNIfTI(displayLabels: all, source: n, to: tmp)
        } else {
            guard Set(masks.map(\.slice)).count == 1 else {
                throw APIError(400, "labels.png: the masks lie on different slices; download one slice at a time or use labels.nii.gz")
            }
            var labels = [UInt16](repeating: 0, count: plane)
            for (k, m) in masks.enumerated() {
                let label = UInt16(k + 1)
                m.forEachForegroundRun { run in for i in run { labels[i] = label } }
            }
            try OutputWriter.writeLabels2D(labels, width: w, height: h, to: tmp)
        }
        var r = APIResponse(status: 200, contentType: nifti ? "application/gzip" : "image/png",
                            body: try Data(contentsOf: tmp))
        r.headers["Content-Disposition"] = "attachment; filename=\"\(stem)-labels.\(nifti ? "nii.gz" : "png")\""
        return r
    }

    static func stem(_ name: String) -> String {
        let lower = name.lowercased()
        for ext in [".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".dcm", ".npz", ".npy"] where lower.hasSuffix(ext) {
            return String(name.dropLast(ext.count))
        }
        return name
    }
}

/// Working memory of one request, counted against the budget while it runs: bytes per pixel of the slice along
/// the code path, rounded up (checked against the measured peak in `ServerMemoryTests`).
enum WorkingMemory {
    /// Reading and windowing one slice: the raw slice as Float (4 B per value) and in Double (8), the windowed
    /// 8-bit image (1) as RGB (3), the PNG being encoded (≤ 4).
    static func slice(_ img: StoredImage) -> Int { pixels(img, times: 24) }

    /// An embedding: the slice windowed as above, plus the resize's Double copy of the RGB image (24 B).
    static func embedding(_ img: StoredImage) -> Int { pixels(img, times: 24 + 24) }

    /// A mask: an embedding when it is not cached, then the low-resolution logits upsampled to full size (Float,
    /// 4 B, twice) and the 0/1 mask (1).
    static func mask(_ img: StoredImage) -> Int { pixels(img, times: 24 + 24 + 9) }

    /// A label file: one UInt16 label per voxel of the image (all slices for NIfTI) and the encoded file (≤ the same).
    static func labels(_ img: StoredImage, nifti: Bool) -> Int { pixels(img, times: 4, slices: nifti ? img.source.slices : 1) }

    private static func pixels(_ img: StoredImage, times perPixel: Int, slices: Int = 1) -> Int {
        let (a, o1) = img.source.width.multipliedReportingOverflow(by: img.source.height)
        let (b, o2) = a.multipliedReportingOverflow(by: slices)
        let (c, o3) = b.multipliedReportingOverflow(by: perPixel)
        return o1 || o2 || o3 ? Int.max : c
    }
}

/// Run-length code of a 0/1 mask as the page reads it: alternating background/foreground run lengths over the
/// row-major pixels, starting with background (the first run may be 0).
public enum RunLength {
    public static func encode(_ mask: [UInt8]) -> [Int] {
        var runs = [Int]()
        var current: UInt8 = 0
        var n = 0
        for v in mask {
            let b: UInt8 = v != 0 ? 1 : 0
            if b == current { n += 1 } else { runs.append(n); current = b; n = 1 }
        }
        runs.append(n)
        return runs
    }

    public static func decode(_ runs: [Int], count: Int) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(count)
        var v: UInt8 = 0
        for r in runs {
            guard r >= 0, out.count + r <= count else { return nil }
            out.append(contentsOf: repeatElement(v, count: r))
            v ^= 1
        }
        return out.count == count ? out : nil
    }
}

extension ComputeEngine {
    /// File reading and windowing: on a global queue (not the model thread, so an upload does not wait for an
    /// encoder pass, and not Swift's cooperative pool).
    func runIO<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(with: Result { try body() }) }
        }
    }
}
