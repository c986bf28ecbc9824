import Foundation

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

    public init(workdir: URL) { self.workdir = workdir }

    /// Whether `host` is a loopback address (only then does the server accept just `localhost` Host headers).
    public var isLoopback: Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }
}

/// An HTTP error answer: status and a one-line message, sent as `{"error": message}`.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) { self.status = status; self.message = message }
    public var description: String { "\(status): \(message)" }
}
