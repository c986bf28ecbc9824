import Foundation
import XCTest
import TestSupport

/// Runs the built `medsam` executable: the one next to the test bundle (same build folder and configuration),
/// or `$MEDSAM_CLI`.
enum CLI {
    static let executable: URL? = {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["MEDSAM_CLI"], fm.isExecutableFile(atPath: env) {
            return URL(fileURLWithPath: env)
        }
        var dirs = [URL]()
        if let first = CommandLine.arguments.first { dirs.append(URL(fileURLWithPath: first).deletingLastPathComponent()) }
        dirs.append(Bundle.main.bundleURL)
        dirs.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") { dirs.append(b.bundleURL.deletingLastPathComponent()) }
        for d in dirs {
            let candidate = d.appendingPathComponent("medsam")
            if fm.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var stderrLines: [String] { stderr.split(whereSeparator: \.isNewline).map(String.init) }
    }

    static func run(_ args: [String], environment: [String: String]? = nil, cwd: URL? = nil, executable exe: URL? = nil,
                    file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        guard let bin = exe ?? executable else {
            XCTFail("medsam executable not found next to the test bundle (build it: swift build)", file: file, line: line)
            throw XCTSkip("no medsam executable")
        }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let outURL = tmp.appendingPathComponent("out"), errURL = tmp.appendingPathComponent("err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let p = Process()
        p.executableURL = bin
        p.arguments = args
        if let environment { p.environment = environment }
        if let cwd { p.currentDirectoryURL = cwd }
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close(); try err.close()
        return Result(status: p.terminationStatus,
                      stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Asserts a clean failure: non-zero status, exactly one stderr line `error: …` containing `fragment`.
    static func assertFails(_ args: [String], mentioning fragment: String, environment: [String: String]? = nil,
                            executable: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args, environment: environment, executable: executable, file: file, line: line)
        XCTAssertNotEqual(r.status, 0, "\(args) should fail", file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "one stderr line expected for \(args), got:\n\(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.localizedCaseInsensitiveContains(fragment), "'\(fragment)' not in: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Stack dump"), file: file, line: line)
    }

    static func temporaryDirectory() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-cli-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }
}
