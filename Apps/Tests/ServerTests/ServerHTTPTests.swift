import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import ImageEncoder
import Imaging
import MedSAM
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest
@testable import MedSAMServer

/// A plain TCP connection to the test server: sends exactly the bytes given (half requests, lying
/// Content-Lengths, any Host/Origin), reads the raw answer.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ToolErrorForTests("socket failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw ToolErrorForTests("connect failed: errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Data(text.utf8)) }

    func send(_ data: Data) {
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + done, raw.count - done, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                done += n
            }
        }
    }

    /// Reads until the server closes the connection or `timeout` seconds pass; returns what arrived, whether the
    /// server closed it, and after how many seconds.
    func readUntilClosed(timeout: Double) -> (data: Data, closed: Bool, seconds: Double) {
        let start = Date()
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = timeout - Date().timeIntervalSince(start)
            if left <= 0 { return (out, false, Date().timeIntervalSince(start)) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(max(1, left * 1000)))
            if r == 0 { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (out, true, Date().timeIntervalSince(start)) }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    /// Reads one answer (head and Content-Length body) and returns its status code and body.
    func readResponse(timeout: Double = 300) -> (status: Int, headers: String, body: Data)? {
        let start = Date()
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date().timeIntervalSince(start) < timeout {
            if let end = out.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: out[..<end.lowerBound], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if out.count - end.upperBound >= length {
                    let status = Int(head.split(separator: " ")[1]) ?? 0
                    return (status, head, out[end.upperBound..<(end.upperBound + length)])
                }
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 200) == 0 { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return nil }
            out.append(contentsOf: buffer[0..<n])
        }
        return nil
    }
}

struct ToolErrorForTests: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The real server (Hummingbird on a free loopback port), over HTTP: every attack of the hardening issue as
/// raw requests — rebinding Host names, cross-site writes, the token, half-sent requests, oversized bodies.
final class ServerHTTPTests: XCTestCase {
    /// Starts a server on port 0, runs `body` with its base URL (without the token query) and API, then stops it.
    func withServer(_ configure: (inout ServerConfiguration) -> Void = { _ in },
                    _ body: (URL, ServerAPI, URL) async throws -> Void) async throws {
        let workdir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-http-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: workdir) }
        var config = ServerConfiguration(workdir: workdir)
        config.port = 0
        configure(&config)
        let api = try ServerAPI(segmenter: try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint()), configuration: config)
        let (urls, continuation) = AsyncStream<String>.makeStream()
        let server = Task { try await SegmentationServer(api: api).run(quiet: true) { continuation.yield($0) } }
        defer { server.cancel() }
        var iterator = urls.makeAsyncIterator()
        let printed = await iterator.next()
        let url = try XCTUnwrap(printed.flatMap(URL.init(string:)))
        XCTAssertEqual(url.host, "127.0.0.1")
        XCTAssertNotEqual(url.port, 0)
        if let token = config.token {
            XCTAssertEqual(url.query, "token=\(token)", "the printed URL carries the token")
        } else {
            XCTAssertNil(url.query)
        }
        let base = try XCTUnwrap(URL(string: "http://127.0.0.1:\(url.port!)/"))
        try await body(base, api, workdir)
    }

    func send(_ request: URLRequest) async throws -> (Int, [String: String], Data) {
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try XCTUnwrap(response as? HTTPURLResponse)
        var headers = [String: String]()
        for (k, v) in http.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
        return (http.statusCode, headers, data)
    }

    /// One raw request; `headers` are sent as given (Host included), `Content-Length` added for a body.
    func raw(_ port: Int, _ method: String, _ path: String, headers: [String], body: Data = Data()) throws -> (status: Int, headers: String, body: String) {
        let c = try RawConnection(port: port)
        var text = "\(method) \(path) HTTP/1.1\r\n" + headers.map { $0 + "\r\n" }.joined()
        if !body.isEmpty || method == "POST" { text += "Content-Length: \(body.count)\r\n" }
        text += "Connection: close\r\n\r\n"
        c.send(Data(text.utf8) + body)
        let r = try XCTUnwrap(c.readResponse(), "no answer to \(method) \(path)")
        return (r.status, r.headers, String(decoding: r.body, as: UTF8.self))
    }

    func testUploadLimitHostCheckAndHeaders() async throws {
        try await withServer({ $0.maxUploadBytes = 1 << 20 }) { base, _, _ in
            // The page and the API answer with security headers.
            let (status, headers, page) = try await send(URLRequest(url: base))
            XCTAssertEqual(status, 200)
            XCTAssertTrue(String(decoding: page, as: UTF8.self).contains("<canvas"))
            XCTAssertEqual(headers["x-content-type-options"], "nosniff")
            XCTAssertTrue(headers["content-security-policy"]?.contains("default-src 'self'") ?? false)
            XCTAssertEqual(headers["referrer-policy"], "no-referrer")

            // A real upload within the limit works over HTTP (URLSession sends no Origin: it says same-origin
            // the way a user's tool would, with Sec-Fetch-Site: none).
            var up = URLRequest(url: try XCTUnwrap(URL(string: base.absoluteString + "api/images?name=gray8.png")))
            up.httpMethod = "POST"
            up.setValue("none", forHTTPHeaderField: "Sec-Fetch-Site")
            up.httpBody = try Data(contentsOf: fixtureURL("io/png/gray8.png"))
            let (s1, _, b1) = try await send(up)
            XCTAssertEqual(s1, 201, String(decoding: b1, as: UTF8.self))

            // A body above the limit: 413 with a JSON error, and the server keeps serving.
            up.httpBody = Data(count: 3 << 20)
            let (s2, h2, b2) = try await send(up)
            XCTAssertEqual(s2, 413)
            XCTAssertEqual(h2["content-type"], "application/json")
            XCTAssertTrue(String(decoding: b2, as: UTF8.self).contains("exceeds the limit of 1048576 bytes"))
            let (s3, _, _) = try await send(URLRequest(url: base.appendingPathComponent("api/info")))
            XCTAssertEqual(s3, 200)
        }
    }

    /// DNS rebinding: names that merely start with 127. or contain localhost are refused; loopback literals,
    /// localhost and --allow-host names (with or without a port) are answered.
    func testRebindingHostNamesAre403() async throws {
        try await withServer({ $0.allowedHosts = ["medsam.lan"] }) { base, _, _ in
            let port = base.port!
            for bad in ["127.0.0.1.evil.com", "127.attacker.example", "127.0.0.1.nip.io", "127.0.0.1.nip.io:\(port)",
                        "attacker.example:80", "localhost.attacker.example", "127.0.0.01", "medsam.lan.evil.com"] {
                let r = try raw(port, "GET", "/api/info", headers: ["Host: \(bad)"])
                XCTAssertEqual(r.status, 403, "Host: \(bad) -> \(r.body)")
                XCTAssertTrue(r.body.contains("refused"), r.body)
            }
            let noHost = try raw(port, "GET", "/api/info", headers: [])
            XCTAssertEqual(noHost.status, 403, "no Host header")
            for good in ["localhost:\(port)", "127.0.0.1:\(port)", "127.9.8.7", "[::1]:\(port)", "medsam.lan", "MEDSAM.LAN:\(port)"] {
                let r = try raw(port, "GET", "/api/info", headers: ["Host: \(good)"])
                XCTAssertEqual(r.status, 200, "Host: \(good) -> \(r.body)")
            }
        }
    }

    /// A cross-site page's `text/plain` POST (no preflight) is 403 and stores nothing; the page's own
    /// same-origin requests work.
    func testCrossSiteWritesAre403AndStoreNothing() async throws {
        try await withServer { base, api, workdir in
            let port = base.port!
            let png = try Data(contentsOf: fixtureURL("io/png/gray8.png"))
            let host = "Host: 127.0.0.1:\(port)"
            let attacks: [[String]] = [
                [host, "Origin: http://attacker.example", "Sec-Fetch-Site: cross-site", "Content-Type: text/plain"],
                [host, "Origin: null", "Content-Type: text/plain"],
                [host, "Origin: http://127.0.0.1:1", "Sec-Fetch-Site: same-site", "Content-Type: text/plain"],
                [host, "Sec-Fetch-Site: cross-site", "Content-Type: text/plain"],
                [host, "Content-Type: text/plain"],
            ]
            for headers in attacks {
                let r = try raw(port, "POST", "/api/images?name=x.png", headers: headers, body: png)
                XCTAssertEqual(r.status, 403, "\(headers) -> \(r.body)")
            }
            let imageCount = await api.store.imageCount
            XCTAssertEqual(imageCount, 0, "nothing stored")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: workdir.path), [], "nothing written")
            // The page's own upload: same Origin (what Chromium sends for fetch POST).
            let ok = try raw(port, "POST", "/api/images?name=x.png",
                             headers: [host, "Origin: http://127.0.0.1:\(port)", "Sec-Fetch-Site: same-origin"], body: png)
            XCTAssertEqual(ok.status, 201, ok.body)
            let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(ok.body.utf8)) as? [String: Any])?["id"] as? String)
            // A cross-site DELETE or mask request on that image is refused too; the image stays.
            let del = try raw(port, "DELETE", "/api/images/\(id)", headers: [host, "Origin: http://attacker.example"])
            XCTAssertEqual(del.status, 403)
            let m = try raw(port, "POST", "/api/images/\(id)/slices/0/masks", headers: [host, "Origin: http://attacker.example",
                            "Content-Type: text/plain"], body: Data("{\"box\":[1,1,20,20]}".utf8))
            XCTAssertEqual(m.status, 403)
            let still = try raw(port, "GET", "/api/images/\(id)", headers: [host])
            XCTAssertEqual(still.status, 200)
            let encoderPasses = await api.store.encoderPasses
            XCTAssertEqual(encoderPasses, 0, "no embedding computed for the cross-site mask request")
        }
    }

    /// With a token: the URL's `?token=` sets an HttpOnly SameSite=Strict cookie, and the token (query, cookie,
    /// Bearer) admits writes without an Origin; a wrong token does not.
    func testTokenQueryCookieAndBearer() async throws {
        let token = RequestGuard.newToken()
        try await withServer({ $0.token = token }) { base, _, _ in
            let port = base.port!
            let host = "Host: 127.0.0.1:\(port)"
            let page = try raw(port, "GET", "/?token=\(token)", headers: [host])
            XCTAssertEqual(page.status, 200)
            XCTAssertTrue(page.headers.contains("Set-Cookie: medsam_token_\(port)=\(token); Path=/; HttpOnly; SameSite=Strict"),
                          page.headers)
            let plain = try raw(port, "GET", "/", headers: [host])
            XCTAssertFalse(plain.headers.contains("medsam_token"), "no token cookie without the token")
            // Every page load without one gets its browser-session cookie (per-session eviction), also HttpOnly.
            let session = try XCTUnwrap(plain.headers.split(separator: "\r\n").first { $0.hasPrefix("Set-Cookie: medsam_session_\(port)=") })
            XCTAssertTrue(session.hasSuffix("; Path=/; HttpOnly; SameSite=Strict"), String(session))
            let again = try raw(port, "GET", "/", headers: [host, "Cookie: " + session.dropFirst("Set-Cookie: ".count).split(separator: ";")[0]])
            XCTAssertFalse(again.headers.contains("medsam_session"), "a page that has its session keeps it")
            let png = try Data(contentsOf: fixtureURL("io/png/gray8.png"))
            for auth in ["Authorization: Bearer \(token)", "Cookie: medsam_token_\(port)=\(token)"] {
                let r = try raw(port, "POST", "/api/images?name=a.png", headers: [host, auth], body: png)
                XCTAssertEqual(r.status, 201, "\(auth): \(r.body)")
            }
            let q = try raw(port, "POST", "/api/images?name=a.png&token=\(token)", headers: [host], body: png)
            XCTAssertEqual(q.status, 201, q.body)
            let wrong = try raw(port, "POST", "/api/images?name=a.png", headers: [host, "Authorization: Bearer \(RequestGuard.newToken())"], body: png)
            XCTAssertEqual(wrong.status, 403)
        }
    }

    /// Binding beyond loopback without a token does not start; with one, nothing but the static files is
    /// answered without it.
    func testBeyondLoopbackNeedsAToken() async throws {
        let segmenter = try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint())
        let workdir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-http-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: workdir) }
        for token in [nil, ""] as [String?] {
            var config = ServerConfiguration(workdir: workdir)
            config.host = "0.0.0.0"
            config.token = token
            XCTAssertThrowsError(try ServerAPI(segmenter: segmenter, configuration: config)) { error in
                XCTAssertTrue("\(error)".contains("needs a token"), "\(error)")
            }
        }
        var bad = ServerConfiguration(workdir: workdir)
        bad.token = "short"
        XCTAssertThrowsError(try ServerAPI(segmenter: segmenter, configuration: bad))
        var badHost = ServerConfiguration(workdir: workdir)
        badHost.allowedHosts = ["http://x.example:80"]
        XCTAssertThrowsError(try ServerAPI(segmenter: segmenter, configuration: badHost))
    }

    /// Half a request head, a body shorter than its Content-Length, and a slow drip are closed within the
    /// configured timeouts; the server keeps answering others meanwhile.
    func testHalfSentRequestsAreClosed() async throws {
        try await withServer({ $0.headerTimeout = 1; $0.idleTimeout = 2; $0.bodyTimeout = 3 }) { base, _, _ in
            let port = base.port!
            // Half a head, then silence: closed by the header timeout (1 s).
            let half = try RawConnection(port: port)
            half.send("GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            let a = half.readUntilClosed(timeout: 10)
            XCTAssertTrue(a.closed, "half-sent head still open after \(a.seconds) s")
            XCTAssertLessThan(a.seconds, 5)
            XCTAssertEqual(a.data.count, 0, "no answer to half a request")

            // A body shorter than its Content-Length: closed by the idle timeout (2 s).
            let short = try RawConnection(port: port)
            short.send("POST /api/images?name=a.png HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 1000\r\n\r\n0123456789")
            let b = short.readUntilClosed(timeout: 15)
            XCTAssertTrue(b.closed, "short body still open after \(b.seconds) s")
            XCTAssertLessThan(b.seconds, 8)

            // One byte every 0.5 s (never idle for 2 s): closed by the body timeout (3 s).
            let drip = try RawConnection(port: port)
            drip.send("POST /api/images?name=a.png HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 100000\r\n\r\n")
            let start = Date()
            var closedAfter: Double?
            while Date().timeIntervalSince(start) < 15 {
                drip.send("x")
                let r = drip.readUntilClosed(timeout: 0.5)
                if r.closed { closedAfter = Date().timeIntervalSince(start); break }
            }
            let after = try XCTUnwrap(closedAfter, "slow drip still open after 15 s")
            XCTAssertLessThan(after, 8)
            XCTAssertGreaterThan(after, 2, "closed by the body deadline, not at once")

            // The server still answers.
            let ok = try raw(port, "GET", "/api/info", headers: ["Host: 127.0.0.1:\(port)"])
            XCTAssertEqual(ok.status, 200)
        }
    }

    /// A mask request body is a few KB: a 100 MB `points` body is refused (413) before it is read or parsed.
    func testJSONBodiesAreCappedBeforeParsing() async throws {
        try await withServer { base, _, _ in
            let port = base.port!
            let host = "Host: 127.0.0.1:\(port)"
            let png = try Data(contentsOf: fixtureURL("io/png/gray8.png"))
            let up = try raw(port, "POST", "/api/images?name=a.png", headers: [host, "Sec-Fetch-Site: same-origin"], body: png)
            let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(up.body.utf8)) as? [String: Any])?["id"] as? String)
            // Announced size above 64 KB: refused from the Content-Length, without reading the body.
            let c = try RawConnection(port: port)
            c.send("POST /api/images/\(id)/slices/0/masks HTTP/1.1\r\n\(host)\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 100000000\r\n\r\n{\"points\":[")
            let r = try XCTUnwrap(c.readResponse(timeout: 10))
            XCTAssertEqual(r.status, 413)
            XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("limit of 65536 bytes"))
            // Sent in full (chunked, no Content-Length): refused once 64 KB have arrived.
            let big = "{\"points\":[" + String(repeating: "[1,1,1],", count: 20000) + "[1,1,1]]}"
            let chunked = try RawConnection(port: port)
            chunked.send("POST /api/images/\(id)/slices/0/masks HTTP/1.1\r\n\(host)\r\nSec-Fetch-Site: same-origin\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + String(big.utf8.count, radix: 16) + "\r\n" + big + "\r\n0\r\n\r\n")
            let r2 = try XCTUnwrap(chunked.readResponse(timeout: 10))
            XCTAssertEqual(r2.status, 413)
            // A normal mask request still works.
            let ok = try raw(port, "POST", "/api/images/\(id)/slices/0/masks", headers: [host, "Sec-Fetch-Site: same-origin"],
                             body: Data("{\"box\":[2,2,20,20]}".utf8))
            XCTAssertEqual(ok.status, 201, ok.body)
        }
    }
}
