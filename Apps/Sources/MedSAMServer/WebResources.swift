import Foundation
import MedSAMTools

/// The page's static files (`Resources/index.html`, `app.js`, `style.css`), read once at start.
///
/// Found in, in order: the folder given (`--web-root`), `$MEDSAM_WEB_ROOT`, the package's resource bundle
/// next to the executable (`MedSAM_MedSAMServer.resources`), and the source tree this file was built from.
/// A missing page is a typed error at start, never a crash.
struct WebResources: Sendable {
    static let files = ["index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                        "style.css": "text/css; charset=utf-8"]
    let contents: [String: Data]
    let folder: URL

    init(root: URL?) throws {
        var candidates = [URL]()
        if let root { candidates.append(root) }
        if let env = ProcessInfo.processInfo.environment["MEDSAM_WEB_ROOT"], !env.isEmpty {
            candidates.append(URL(fileURLWithPath: env))
        }
        let bundleName = "MedSAM_MedSAMServer.resources"
        var bases = [Bundle.main.bundleURL]
        if let exe = Bundle.main.executableURL { bases.append(exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        let arg0 = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        bases.append(arg0.deletingLastPathComponent())
        for b in bases {
            candidates.append(b.appendingPathComponent(bundleName).appendingPathComponent("Resources"))
            candidates.append(b.appendingPathComponent(bundleName))
        }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources"))
        if root != nil { candidates = [candidates[0]] }   // an explicit folder must be the one used
        for c in candidates where FileManager.default.fileExists(atPath: c.appendingPathComponent("index.html").path) {
            var contents = [String: Data]()
            for name in Self.files.keys {
                guard let d = FileManager.default.contents(atPath: c.appendingPathComponent(name).path) else {
                    throw ToolError("web page: \(c.path) has index.html but no \(name)")
                }
                contents[name] = d
            }
            self.contents = contents
            self.folder = c
            return
        }
        throw ToolError("web page files (index.html, app.js, style.css) not found; looked in: "
                        + candidates.map(\.path).joined(separator: ", ") + " (set MEDSAM_WEB_ROOT or --web-root)")
    }

    func file(_ name: String) throws(APIError) -> APIResponse {
        guard let type = Self.files[name], let data = contents[name] else { throw APIError(404, "no such page: /\(name)") }
        return APIResponse(status: 200, contentType: type, body: data)
    }
}
