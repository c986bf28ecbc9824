import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import MedSAMTools
import NIOCore
import NIOHTTPTypes

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
        let header = TimeAmount.milliseconds(Int64(config.headerTimeout * 1000))
        let body = TimeAmount.milliseconds(Int64(config.bodyTimeout * 1000))
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestTimeoutHandler(headerTimeout: header, bodyTimeout: body)],
            idleTimeout: .milliseconds(Int64(config.idleTimeout * 1000))
        )
        let app = Application(
            responder: Responder(api: api, guard: RequestGuard(configuration: config)),
            server: .http1(configuration: http1),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "medsam"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                let host = config.host.contains(":") ? "[\(config.host)]" : config.host
                onRunning("http://\(host):\(port)/" + (config.token.map { $0.isEmpty ? "" : "?token=\($0)" } ?? ""))
            },
            logger: logger
        )
        try await app.runService()
    }

    /// Turns Hummingbird requests into ``APIRequest``s: checks Host, Origin and token (``RequestGuard``), reads
    /// at most the endpoint's body limit (uploads: `maxUploadBytes`; every other request: `maxJSONBytes`), and
    /// adds security headers.
    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let api: ServerAPI
        let `guard`: RequestGuard

        func respond(to request: Request, context: Context) async throws -> Response {
            let config = api.configuration
            let path = request.uri.path
            var query = [String: String]()
            for (k, v) in request.uri.queryParameters {
                query[String(k).removingPercentEncoding ?? String(k)] = String(v)   // values arrive percent-decoded
            }
            let headers = request.headers
            let decision = `guard`.check(RequestGuard.Request(
                method: request.method.rawValue, path: path, host: request.head.authority,
                origin: headers[.origin], secFetchSite: headers[HTTPField.Name("Sec-Fetch-Site")!],
                cookie: headers[values: .cookie].joined(separator: "; "), authorization: headers[.authorization],
                queryToken: query["token"]))
            var cookies = [String]()
            switch decision {
            case .refuse(let status, let message):
                return Self.response(.error(APIError(status, message)), head: request.method == .head)
            case .allow(let fromQuery):
                if fromQuery, let token = config.token, let host = request.head.authority {
                    cookies.append(RequestGuard.cookie(token: token, host: host))
                }
            }
            // The browser session owning this page's images (eviction is per session first).
            let host = request.head.authority ?? ""
            let sessionName = RequestGuard.sessionCookieName(host: host)
            var session = RequestGuard.cookieValue(sessionName, in: headers[values: .cookie].joined(separator: "; ")) ?? ""
            if session.isEmpty || !RequestGuard.isValidToken(session) {
                session = ""
                if request.method == .get && (path == "/" || path == "/index.html") {
                    session = RequestGuard.newToken()
                    cookies.append("\(sessionName)=\(session); Path=/; HttpOnly; SameSite=Strict")
                }
            }
            var body = Data()
            if request.method != .get && request.method != .head {
                let isUpload = request.method == .post && path == "/api/images"
                let limit = isUpload ? config.maxUploadBytes : config.maxJSONBytes
                let what = isUpload ? "upload" : "request body"
                if let length = headers[.contentLength].flatMap(Int.init), length > limit {
                    return Self.response(.error(APIError(413, "\(what) of \(length) bytes exceeds the limit of \(limit) bytes")))
                }
                do {
                    let buffer = try await request.body.collect(upTo: limit)
                    body = Data(buffer.readableBytesView)
                } catch {
                    return Self.response(.error(APIError(413, "\(what) exceeds the limit of \(limit) bytes")))
                }
            }
            let answer = await api.handle(APIRequest(method: request.method.rawValue, path: path, query: query, body: body,
                                                     session: session))
            return Self.response(answer, head: request.method == .head, cookies: cookies)
        }

        static func response(_ a: APIResponse, head: Bool = false, cookies: [String] = []) -> Response {
            var headers = HTTPFields()
            headers[.contentType] = a.contentType
            headers[.cacheControl] = "no-store"
            headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
            headers[HTTPField.Name("Content-Security-Policy")!] =
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
            headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"   // the token in the URL never leaks
            for (k, v) in a.headers { if let name = HTTPField.Name(k) { headers[name] = v } }
            for c in cookies { headers.append(HTTPField(name: .setCookie, value: c)) }
            headers[.contentLength] = String(a.body.count)
            let body = head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: a.body))
            return Response(status: HTTPResponse.Status(code: a.status), headers: headers, body: body)
        }
    }
}

/// Header and body deadlines per connection (Hummingbird's idle timeout only sees silence, not a slow drip):
/// the first request head must arrive within `headerTimeout` of the connection opening, and each request's
/// body must end within `bodyTimeout` of its head; otherwise the connection is closed.
final class RequestTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let headerTimeout: TimeAmount
    let bodyTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var sawHead = false

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    private func arm(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { context.close(promise: nil) }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive && !sawHead { arm(context, headerTimeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelActive(context: ChannelHandlerContext) {
        if !sawHead { arm(context, headerTimeout) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            sawHead = true
            arm(context, bodyTimeout)
        case .end:
            disarm()
        case .body:
            break
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension RequestTimeoutHandler: Sendable {}
