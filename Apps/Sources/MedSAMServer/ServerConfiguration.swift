import Foundation
import MedicalIO

/// Settings of `medsam serve`.
///
/// ```swift
/// var config = ServerConfiguration(workdir: URL(fileURLWithPath: "/tmp/medsam-serve"))
/// config.port = 0            // any free port; the URL is printed once the server runs
/// config.maxUploadBytes = 64 << 20
/// ```
public struct ServerConfiguration: Sendable {
    /// Address to bind. Loopback by default: the page and its uploads stay on this machine.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks a free one.
    public var port: Int = 8080
    /// The only folder the server writes to: one sub-folder per uploaded image, removed with the image.
    public var workdir: URL
    /// Largest accepted upload (request body), bytes.
    public var maxUploadBytes: Int = 512 << 20
    /// Uploaded images kept; the least recently used one is dropped (with its masks and folder) beyond this.
    public var maxImages: Int = 8
    /// Image embeddings kept (about 4 MB each).
    public var maxEmbeddings: Int = 16
    /// Masks per image.
    public var maxMasksPerImage: Int = 1000
    /// Folder with `index.html`, `app.js`, `style.css`; nil = the package's resources.
    public var webRoot: URL?
    /// Host names answered besides `localhost` and loopback IP literals (`--allow-host`, exact, case-insensitive).
    public var allowedHosts: [String] = []
    /// The per-launch token (`?token=`, cookie or `Authorization: Bearer`). Required when ``host`` is not
    /// loopback (``ServerAPI`` refuses to start without one); optional on loopback, where same-origin writes
    /// are accepted without it. `medsam serve` generates one per launch unless `--token` is given.
    public var token: String?
    /// Largest JSON request body (mask prompts, embeddings), bytes; uploads use ``maxUploadBytes``.
    public var maxJSONBytes: Int = 64 << 10
    /// Seconds a new connection may take to send its first request head.
    public var headerTimeout: Double = 10
    /// Seconds a connection may stay without a complete HTTP part while no request is being answered
    /// (a stalled header or body, an idle keep-alive).
    public var idleTimeout: Double = 30
    /// Seconds from a request head to the end of its body (a slow drip cannot hold a connection).
    public var bodyTimeout: Double = 300

    /// Bytes the server may hold for uploads (decoded pixels), embeddings and masks together (`--memory-budget`).
    /// Default: a quarter of the machine's memory (physical, or the cgroup limit when lower). Least recently used
    /// embeddings, then images go when it is full; one image larger than the budget is refused (413).
    public var memoryBudgetBytes: Int = ServerConfiguration.defaultMemoryBudget()

    public init(workdir: URL) { self.workdir = workdir }

    /// What the file readers may decode for one upload: at most half the budget as 4-byte pixels, a quarter as
    /// raw sample bytes — a 46,340² PNG or a 1000³ NIfTI is a typed "too large" error before any allocation.
    public var readerLimits: MedicalIOLimits {
        MedicalIOLimits(maxElements: max(1, memoryBudgetBytes / 8), maxBytes: max(1, memoryBudgetBytes / 4))
    }

    /// A quarter of physical memory, or of the cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`) limit when
    /// that is lower.
    public static func defaultMemoryBudget() -> Int {
        var total = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        for f in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: f, encoding: .utf8),
               let v = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), v > 0 {
                total = min(total, v)
            }
        }
        return max(64 << 20, total / 4)
    }

    /// Whether `host` is a loopback address: `localhost`, a `127.x.y.z` dotted-quad or `::1` (exact; a name
    /// that merely starts with `127.` is not one).
    public var isLoopback: Bool {
        host == "localhost" || RequestGuard.isLoopbackLiteral(host)
    }
}

/// An HTTP error answer: status and a one-line message, sent as `{"error": message}`.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) { self.status = status; self.message = message }
    public var description: String { "\(status): \(message)" }
}
