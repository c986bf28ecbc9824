import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Who may talk to `medsam serve`: exact Host matching (DNS rebinding), no cross-site writes (CSRF), and the
/// per-launch token. Framework-free, so every rule is unit-tested on plain header values.
///
/// Rules, in order:
/// 1. `Host` must be present and name this server exactly: `localhost`, a loopback IP literal (`127.x.y.z` as a
///    real dotted-quad, `[::1]`), a name given with `--allow-host`, or — only when bound beyond loopback — any IP
///    literal (a rebinding attack needs a DNS name). An optional `:port` suffix is allowed. Otherwise 403.
/// 2. A valid token (query `token`, a `medsam_token…` cookie, or `Authorization: Bearer`) admits everything.
/// 3. Bound beyond loopback, the token is required for everything but the page's static files: 401 without it.
/// 4. Requests other than GET/HEAD must be same-origin: an `Origin` equal to `http(s)://<Host>`, or, with no
///    `Origin`, `Sec-Fetch-Site: same-origin` or `none`. A cross-site (or `same-site`) write is 403.
public struct RequestGuard: Sendable {
    /// The request's headers and token sources, as received.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var host: String?
        public var origin: String?
        public var secFetchSite: String?
        public var cookie: String?
        public var authorization: String?
        public var queryToken: String?
        public init(method: String, path: String, host: String?, origin: String? = nil, secFetchSite: String? = nil,
                    cookie: String? = nil, authorization: String? = nil, queryToken: String? = nil) {
            self.method = method; self.path = path; self.host = host; self.origin = origin
            self.secFetchSite = secFetchSite; self.cookie = cookie; self.authorization = authorization
            self.queryToken = queryToken
        }
    }

    /// What to do with a request.
    public enum Decision: Sendable, Equatable {
        /// Answer it; `tokenFromQuery` is true when the URL carried the valid token (the page then sets the cookie).
        case allow(tokenFromQuery: Bool)
        /// Refuse it with this status and message.
        case refuse(Int, String)
    }

    /// Cookie name prefix; the full name carries the port (cookies are per host, not per port).
    public static let cookiePrefix = "medsam_token"

    let loopbackOnly: Bool
    let allowedHosts: Set<String>
    let token: String?

    public init(configuration: ServerConfiguration) {
        loopbackOnly = configuration.isLoopback
        allowedHosts = Set(configuration.allowedHosts.map { $0.lowercased() })
        token = configuration.token.flatMap { $0.isEmpty ? nil : $0 }
    }

    public func check(_ r: Request) -> Decision {
        guard let host = r.host, !host.isEmpty else { return .refuse(403, "request without a Host header refused") }
        guard let name = Self.hostName(host), hostAllowed(name) else {
            return .refuse(403, "Host '\(host.prefix(100))' refused: this server answers "
                           + (allowedHosts.isEmpty ? "localhost only" : "localhost and --allow-host names only"))
        }
        let method = r.method.uppercased()
        let isRead = method == "GET" || method == "HEAD"
        if let token {
            if let q = r.queryToken, Self.equal(q, token) { return .allow(tokenFromQuery: true) }
            if let a = r.authorization, a.lowercased().hasPrefix("bearer "),
               Self.equal(String(a.dropFirst(7)).trimmingCharacters(in: .whitespaces), token) {
                return .allow(tokenFromQuery: false)
            }
            if let c = r.cookie, Self.cookieValues(c).contains(where: { Self.equal($0, token) }) {
                return .allow(tokenFromQuery: false)
            }
            if !loopbackOnly && !(isRead && Self.publicFiles.contains(r.path)) {
                return .refuse(401, "this server needs its token: open the URL printed at start (…/?token=…), "
                               + "or send Authorization: Bearer TOKEN")
            }
        } else if !loopbackOnly {
            return .refuse(401, "server bound beyond loopback without a token")   // ServerAPI refuses to start so
        }
        if isRead { return .allow(tokenFromQuery: false) }
        if let origin = r.origin {
            guard Self.sameOrigin(origin, host: host) else {
                return .refuse(403, "cross-site \(method) refused (Origin '\(origin.prefix(100))' is not this server)")
            }
            return .allow(tokenFromQuery: false)
        }
        switch r.secFetchSite?.lowercased() {
        case "same-origin", "none": return .allow(tokenFromQuery: false)
        case let s?: return .refuse(403, "cross-site \(method) refused (Sec-Fetch-Site: \(s.prefix(40)))")
        case nil: return .refuse(403, "\(method) needs an Origin of this server or the token (Authorization: Bearer TOKEN)")
        }
    }

    /// Static files any client may fetch without the token (they hold no data).
    static let publicFiles: Set<String> = ["/app.js", "/style.css", "/favicon.ico"]

    func hostAllowed(_ name: String) -> Bool {
        if name == "localhost" || Self.isLoopbackLiteral(name) || allowedHosts.contains(name) { return true }
        return !loopbackOnly && Self.isIPLiteral(name)
    }

    // MARK: host names

    /// The host part of a `Host` header (`name`, `name:port`, `[v6]`, `[v6]:port`), lowercased; nil when the
    /// header is malformed (bad port, stray characters, empty name).
    public static func hostName(_ header: String) -> String? { parseAuthority(header)?.name }

    /// Name (lowercased, IPv6 without brackets) and optional port of `host[:port]`; nil when malformed.
    static func parseAuthority(_ header: String) -> (name: String, port: Int?)? {
        let h = header.lowercased()
        let name: Substring, rest: Substring
        if h.hasPrefix("[") {
            guard let end = h.firstIndex(of: "]") else { return nil }
            name = h[h.index(after: h.startIndex)..<end]
            rest = h[h.index(after: end)...]
            guard ipv6Bytes(String(name)) != nil else { return nil }
        } else {
            if let colon = h.firstIndex(of: ":") {
                name = h[..<colon]; rest = h[colon...]
            } else {
                name = h[...]; rest = ""
            }
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") })
            else { return nil }
        }
        guard !rest.isEmpty else { return (String(name), nil) }
        let digits = rest.dropFirst()
        guard rest.first == ":", !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(digits), port <= 65535 else { return nil }
        return (String(name), port)
    }

    /// A dotted-quad IPv4 literal: four decimal parts 0…255 without leading zeros.
    static func ipv4Bytes(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out = [UInt8]()
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  p == "0" || p.first != "0", let v = Int(p), v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    static func ipv6Bytes(_ s: String) -> [UInt8]? {
        guard s.contains(":"), s.count <= 45, s.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        var addr = in6_addr()
        guard inet_pton(AF_INET6, s, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: &addr) { Array($0) }
    }

    /// `127.0.0.0/8` as a real dotted-quad, or `::1` (with or without brackets).
    public static func isLoopbackLiteral(_ name: String) -> Bool {
        if let v4 = ipv4Bytes(name) { return v4[0] == 127 }
        let bare = name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        if let v6 = ipv6Bytes(bare) { return v6 == [UInt8](repeating: 0, count: 15) + [1] }
        return false
    }

    public static func isIPLiteral(_ name: String) -> Bool {
        ipv4Bytes(name) != nil || ipv6Bytes(name) != nil
    }

    // MARK: origins, cookies, tokens

    /// Whether `origin` (`scheme://host[:port]`) names the same host and port as the `Host` header.
    static func sameOrigin(_ origin: String, host: String) -> Bool {
        let o = origin.lowercased()
        let scheme: String, rest: Substring
        if o.hasPrefix("http://") { scheme = "http"; rest = o.dropFirst(7) } else if o.hasPrefix("https://") {
            scheme = "https"; rest = o.dropFirst(8)
        } else { return false }
        guard let a = authority(String(rest), defaultPort: scheme == "http" ? 80 : 443),
              let b = authority(host.lowercased(), defaultPort: scheme == "http" ? 80 : 443) else { return false }
        return a == b
    }

    /// `name|port` of `host[:port]` with the scheme's default port filled in.
    static func authority(_ s: String, defaultPort: Int) -> String? {
        guard let (name, port) = parseAuthority(s) else { return nil }
        return "\(name)|\(port ?? defaultPort)"
    }

    /// Values of every `medsam_token…` cookie in a `Cookie` header.
    static func cookieValues(_ header: String) -> [String] {
        header.split(separator: ";").compactMap { pair in
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, kv[0].hasPrefix(cookiePrefix) else { return nil }
            return kv[1]
        }
    }

    /// The cookie the page gets when it was opened with the valid `?token=` (HttpOnly, SameSite=Strict, named
    /// after the port so two servers on one host keep their own).
    public static func cookie(token: String, host: String) -> String {
        let port = parseAuthority(host)?.port ?? 80
        return "\(cookiePrefix)_\(port)=\(token); Path=/; HttpOnly; SameSite=Strict"
    }

    /// Name of the session cookie for a `Host` header (per port, as the token cookie).
    static func sessionCookieName(host: String) -> String {
        "medsam_session_\(parseAuthority(host)?.port ?? 80)"
    }

    /// The value of cookie `name` in a `Cookie` header.
    static func cookieValue(_ name: String, in header: String) -> String? {
        for pair in header.split(separator: ";") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0] == name { return kv[1] }
        }
        return nil
    }

    /// Constant-time comparison (the time does not tell how many leading characters matched).
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in 0..<x.count { d |= x[i] ^ y[i] }
        return d == 0
    }

    /// A new random token: 32 hex digits from the system's cryptographic generator.
    public static func newToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    /// Whether a user-chosen token is usable in a URL and a cookie: 16…256 characters of `A-Z a-z 0-9 - _ .`.
    public static func isValidToken(_ t: String) -> Bool {
        (16...256).contains(t.count) && t.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }
}
