import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MedSAMTools
import NIOCore

/// `medsam serve`: runs ``ServerAPI`` behind Hummingbird until SIGINT/SIGTERM.
///
/// ```swift
/// let api = try ServerAPI(segmenter: segmenter, configuration: config)
/// try await SegmentationServer(api: api).run { url in print("open \(url)") }
/// ```
public struct SegmentationServer: Sendable {
    public let api: ServerAPI

    public init(api: ServerAPI) { self.api = api }

    /// Serves until the process gets SIGINT or SIGTERM; `onRunning` receives the page's URL (with the real
    /// port when the configuration asked for port 0). `quiet` silences the framework's log (tests cancel the
    /// server task, which it reports as an error).
    public func run(quiet: Bool = false, onRunning: @escaping @Sendable (String) -> Void) async throws {
        let config = api.configuration
        var logger = Logger(label: "medsam.serve")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        if quiet { logger.logLevel = .critical }
        let app = Application(
            responder: Responder(api: api),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "medsam"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                let host = config.host.contains(":") ? "[\(config.host)]" : config.host
                onRunning("http://\(host):\(port)/")
            },
            logger: logger
        )
        try await app.runService()
    }

    /// Turns Hummingbird requests into ``APIRequest``s: reads at most the upload limit of the body, checks the
    /// Host header when serving on loopback (a web page elsewhere cannot reach the API through DNS rebinding),
    /// and adds security headers.
    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let api: ServerAPI

        func respond(to request: Request, context: Context) async throws -> Response {
            let config = api.configuration
            if config.isLoopback, let host = request.head.authority {
                let name = Self.hostName(host)
                guard name == "localhost" || name == "127.0.0.1" || name == "::1" || name.hasPrefix("127.") else {
                    return Self.response(.error(APIError(403, "Host '\(host)' refused: this server answers localhost only")))
                }
            }
            var body = Data()
            if request.method == .post || request.method == .put {
                if let length = request.headers[.contentLength].flatMap(Int.init), length > config.maxUploadBytes {
                    return Self.response(.error(APIError(413, "upload of \(length) bytes exceeds the limit of \(config.maxUploadBytes) bytes")))
                }
                do {
                    let buffer = try await request.body.collect(upTo: config.maxUploadBytes)
                    body = Data(buffer.readableBytesView)
                } catch {
                    return Self.response(.error(APIError(413, "upload exceeds the limit of \(config.maxUploadBytes) bytes")))
                }
            }
            let path = request.uri.path
            var query = [String: String]()
            for (k, v) in request.uri.queryParameters {
                query[String(k).removingPercentEncoding ?? String(k)] = String(v)   // values arrive percent-decoded
            }
            let answer = await api.handle(APIRequest(method: request.method.rawValue, path: path, query: query, body: body))
            return Self.response(answer, head: request.method == .head)
        }

        static func hostName(_ host: String) -> String {
            if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
                return String(host[host.index(after: host.startIndex)..<end])
            }
            return String(host.split(separator: ":").first ?? "").lowercased()
        }

        static func response(_ a: APIResponse, head: Bool = false) -> Response {
            var headers = HTTPFields()
            headers[.contentType] = a.contentType
            headers[.cacheControl] = "no-store"
            headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
            headers[HTTPField.Name("Content-Security-Policy")!] =
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
            for (k, v) in a.headers { if let name = HTTPField.Name(k) { headers[name] = v } }
            headers[.contentLength] = String(a.body.count)
            let body = head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: a.body))
            return Response(status: HTTPResponse.Status(code: a.status), headers: headers, body: body)
        }
    }
}
