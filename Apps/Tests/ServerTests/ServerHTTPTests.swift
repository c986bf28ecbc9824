import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
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

/// The real server (Hummingbird on a free loopback port), over HTTP: upload limit, Host check, headers.
final class ServerHTTPTests: XCTestCase {
    /// Starts a server on port 0, runs `body` with its base URL, then stops it.
    func withServer(maxUploadBytes: Int, _ body: (URL) async throws -> Void) async throws {
        let workdir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-http-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: workdir) }
        var config = ServerConfiguration(workdir: workdir)
        config.port = 0
        config.maxUploadBytes = maxUploadBytes
        let api = try ServerAPI(segmenter: try Segmenter(.liteMedSAM, checkpoint: try liteMedSAMCheckpoint()), configuration: config)
        let (urls, continuation) = AsyncStream<String>.makeStream()
        let server = Task { try await SegmentationServer(api: api).run(quiet: true) { continuation.yield($0) } }
        defer { server.cancel() }
        var iterator = urls.makeAsyncIterator()
        let printed = await iterator.next()
        let url = try XCTUnwrap(printed.flatMap(URL.init(string:)))
        XCTAssertEqual(url.host, "127.0.0.1")
        XCTAssertNotEqual(url.port, 0)
        try await body(url)
    }

    func send(_ request: URLRequest) async throws -> (Int, [String: String], Data) {
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try XCTUnwrap(response as? HTTPURLResponse)
        var headers = [String: String]()
        for (k, v) in http.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
        return (http.statusCode, headers, data)
    }

    func testUploadLimitHostCheckAndHeaders() async throws {
        try await withServer(maxUploadBytes: 1 << 20) { base in
            // The page and the API answer with security headers.
            let (status, headers, page) = try await send(URLRequest(url: base))
            XCTAssertEqual(status, 200)
            XCTAssertTrue(String(decoding: page, as: UTF8.self).contains("<canvas"))
            XCTAssertEqual(headers["x-content-type-options"], "nosniff")
            XCTAssertTrue(headers["content-security-policy"]?.contains("default-src 'self'") ?? false)

            // A real upload within the limit works over HTTP.
            var up = URLRequest(url: base.appendingPathComponent("api/images"))
            up.url = URL(string: base.absoluteString + "api/images?name=gray8.png")
            up.httpMethod = "POST"
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

            // On loopback only localhost Host names are answered (DNS rebinding).
            var evil = URLRequest(url: base.appendingPathComponent("api/info"))
            evil.setValue("attacker.example:80", forHTTPHeaderField: "Host")
            let (s4, _, b4) = try await send(evil)
            XCTAssertEqual(s4, 403, String(decoding: b4, as: UTF8.self))
            var local = URLRequest(url: base.appendingPathComponent("api/info"))
            local.setValue("localhost:\(base.port!)", forHTTPHeaderField: "Host")
            let (s5, _, _) = try await send(local)
            XCTAssertEqual(s5, 200)
        }
    }
}
