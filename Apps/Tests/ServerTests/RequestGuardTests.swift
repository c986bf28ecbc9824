import Foundation
@testable import MedSAMServer
import XCTest

/// Host, Origin and token rules of `medsam serve` on plain header values (the HTTP tests send the same attacks
/// over real sockets).
final class RequestGuardTests: XCTestCase {
    let loopback = RequestGuard(configuration: ServerConfiguration(workdir: URL(fileURLWithPath: "/nonexistent")))

    func guardWith(_ configure: (inout ServerConfiguration) -> Void) -> RequestGuard {
        var c = ServerConfiguration(workdir: URL(fileURLWithPath: "/nonexistent"))
        configure(&c)
        return RequestGuard(configuration: c)
    }

    func status(_ g: RequestGuard, _ method: String = "GET", path: String = "/api/info", host: String?,
                origin: String? = nil, site: String? = nil, cookie: String? = nil, auth: String? = nil,
                query: String? = nil) -> Int {
        switch g.check(.init(method: method, path: path, host: host, origin: origin, secFetchSite: site, cookie: cookie,
                             authorization: auth, queryToken: query)) {
        case .allow: return 200
        case .refuse(let s, _): return s
        }
    }

    func testHostNamesAreMatchedExactly() {
        for good in ["localhost", "localhost:8080", "LOCALHOST:1", "127.0.0.1", "127.0.0.1:8080", "127.1.2.3:80",
                     "127.255.255.255", "[::1]", "[::1]:8080", "[0:0:0:0:0:0:0:1]:9"] {
            XCTAssertEqual(status(loopback, host: good), 200, good)
        }
        for bad in ["127.0.0.1.evil.com", "127.attacker.example", "127.0.0.1.nip.io", "127.0.0.1.nip.io:8080",
                    "attacker.example", "attacker.example:80", "localhost.evil.com", "evil-localhost", "127.0.0.01",
                    "127.0.0", "127.0.0.1.", "127.0.0.256", "0x7f.0.0.1", "2130706433", "[::2]", "[::1", "::1",
                    "localhost:", "localhost:8080x", "localhost:99999", "localhost:80:80", "user@localhost",
                    "10.0.0.1", "[::ffff:127.0.0.1]", "", "local host"] {
            XCTAssertEqual(status(loopback, host: bad), 403, bad)
        }
        XCTAssertEqual(status(loopback, host: nil), 403, "no Host header")
        XCTAssertTrue(RequestGuard.isLoopbackLiteral("127.0.0.1"))
        XCTAssertFalse(RequestGuard.isLoopbackLiteral("127.0.0.1.evil.com"))
        XCTAssertFalse(RequestGuard.isLoopbackLiteral("128.0.0.1"))
        XCTAssertEqual(RequestGuard.hostName("[::1]:8080"), "::1")
        XCTAssertEqual(RequestGuard.hostName("Example.ORG:443"), "example.org")
    }

    func testAllowHostAddsExactNames() {
        let g = guardWith { $0.allowedHosts = ["medsam.lan"] }
        XCTAssertEqual(status(g, host: "medsam.lan:8080"), 200)
        XCTAssertEqual(status(g, host: "MEDSAM.LAN"), 200)
        XCTAssertEqual(status(g, host: "x.medsam.lan"), 403)
        XCTAssertEqual(status(g, host: "medsam.lan.evil.com"), 403)
        XCTAssertEqual(status(g, host: "localhost"), 200)
    }

    func testCrossSiteWritesAreRefused() {
        let host = "127.0.0.1:8080"
        // Same origin (what a browser sends for the page's own fetch).
        XCTAssertEqual(status(loopback, "POST", host: host, origin: "http://127.0.0.1:8080", site: "same-origin"), 200)
        XCTAssertEqual(status(loopback, "DELETE", host: "localhost:8080", origin: "http://LOCALHOST:8080"), 200)
        XCTAssertEqual(status(loopback, "POST", host: "localhost", origin: "http://localhost"), 200, "default port 80")
        XCTAssertEqual(status(loopback, "POST", host: "localhost:80", origin: "http://localhost"), 200)
        XCTAssertEqual(status(loopback, "POST", host: host, site: "same-origin"), 200, "Sec-Fetch-Site without Origin")
        XCTAssertEqual(status(loopback, "POST", host: host, site: "none"), 200, "typed by the user")
        // Cross-site: another site, another port of localhost (same-site), null origin, other scheme tricks.
        XCTAssertEqual(status(loopback, "POST", host: host, origin: "http://attacker.example", site: "cross-site"), 403)
        XCTAssertEqual(status(loopback, "POST", host: host, origin: "http://127.0.0.1:9999", site: "same-site"), 403)
        XCTAssertEqual(status(loopback, "POST", host: host, origin: "http://127.0.0.1", site: "same-origin"), 403,
                       "a mismatching Origin wins over Sec-Fetch-Site")
        XCTAssertEqual(status(loopback, "POST", host: host, origin: "null"), 403)
        XCTAssertEqual(status(loopback, "POST", host: host, origin: "http://127.0.0.1:8080.evil.com"), 403)
        XCTAssertEqual(status(loopback, "POST", host: host, origin: "file://"), 403)
        XCTAssertEqual(status(loopback, "POST", host: host, site: "cross-site"), 403)
        XCTAssertEqual(status(loopback, "POST", host: host, site: "same-site"), 403)
        XCTAssertEqual(status(loopback, "PUT", host: host), 403, "a write with neither Origin nor token")
        XCTAssertEqual(status(loopback, "OPTIONS", host: host, origin: "http://attacker.example"), 403)
        // Reads stay open on loopback (a cross-site page cannot read the answers).
        XCTAssertEqual(status(loopback, "GET", host: host, origin: "http://attacker.example", site: "cross-site"), 200)
        XCTAssertEqual(status(loopback, "HEAD", host: host), 200)
    }

    func testTokenOnLoopbackAdmitsWritesWithoutOrigin() {
        let token = "0123456789abcdef0123456789abcdef"
        let g = guardWith { $0.token = token }
        let host = "127.0.0.1:8080"
        XCTAssertEqual(status(g, "POST", host: host, auth: "Bearer \(token)"), 200)
        XCTAssertEqual(status(g, "POST", host: host, auth: "bearer \(token)"), 200)
        XCTAssertEqual(status(g, "POST", host: host, query: token), 200)
        XCTAssertEqual(status(g, "POST", host: host, cookie: "a=b; medsam_token_8080=\(token)"), 200)
        XCTAssertEqual(status(g, "POST", host: host, auth: "Bearer \(token.dropLast())x"), 403, "wrong token")
        XCTAssertEqual(status(g, "POST", host: host, cookie: "other=\(token)"), 403, "token under another cookie name")
        XCTAssertEqual(status(g, "POST", host: host, origin: "http://attacker.example", query: "nope"), 403)
        XCTAssertEqual(status(g, "POST", host: "attacker.example", auth: "Bearer \(token)"), 403, "Host checked first")
        XCTAssertEqual(status(g, "GET", host: host), 200, "loopback reads need no token")
        XCTAssertEqual(g.check(.init(method: "GET", path: "/", host: host, queryToken: token)), .allow(tokenFromQuery: true))
        XCTAssertEqual(RequestGuard.cookie(token: token, host: host),
                       "medsam_token_8080=\(token); Path=/; HttpOnly; SameSite=Strict")
    }

    func testBeyondLoopbackEverythingNeedsTheToken() {
        let token = "0123456789abcdef0123456789abcdef"
        let g = guardWith { $0.host = "0.0.0.0"; $0.token = token }
        let host = "192.168.1.20:8080"
        XCTAssertEqual(status(g, "GET", path: "/", host: host), 401)
        XCTAssertEqual(status(g, "GET", host: host), 401)
        XCTAssertEqual(status(g, "POST", host: host, origin: "http://192.168.1.20:8080", site: "same-origin"), 401,
                       "same-origin is not enough beyond loopback")
        XCTAssertEqual(status(g, "GET", path: "/app.js", host: host), 200, "static files hold no data")
        XCTAssertEqual(status(g, "POST", path: "/app.js", host: host), 401)
        XCTAssertEqual(status(g, "GET", path: "/", host: host, query: token), 200)
        XCTAssertEqual(status(g, "POST", host: host, cookie: "medsam_token_8080=\(token)"), 200)
        XCTAssertEqual(status(g, "POST", host: "[fe80::1]:8080", auth: "Bearer \(token)"), 200, "IP literals are fine")
        XCTAssertEqual(status(g, "POST", host: "rebind.attacker.example", auth: "Bearer \(token)"), 403)
        let open = guardWith { $0.host = "0.0.0.0" }
        XCTAssertEqual(status(open, "GET", host: host), 401, "no token configured: nothing is answered")
    }

    func testTokens() {
        let a = RequestGuard.newToken(), b = RequestGuard.newToken()
        XCTAssertEqual(a.count, 32)
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(RequestGuard.isValidToken(a))
        XCTAssertFalse(RequestGuard.isValidToken("short"))
        XCTAssertFalse(RequestGuard.isValidToken("0123456789abcdef; Path=/x"))
        XCTAssertTrue(RequestGuard.equal("abc", "abc"))
        XCTAssertFalse(RequestGuard.equal("abc", "abd"))
        XCTAssertFalse(RequestGuard.equal("abc", "abcd"))
    }
}
