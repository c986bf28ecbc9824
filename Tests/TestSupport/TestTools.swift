import Foundation
import XCTest

/// Test-time tools outside the package (Python with pydicom and its plugins, DICOM validators), installed by
/// `scripts/bootstrap.sh`. A missing tool FAILS the test under CI (`CI` set) and skips it with a message elsewhere.
public enum TestTools {
    /// Runs `args` through `/usr/bin/env` (in `cwd` when given), returning the exit status and both outputs.
    public static func run(_ args: [String], cwd: URL? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Fails (under CI) or skips: `message` names the missing tool.
    public static func missing(_ message: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        let text = "\(message) — scripts/bootstrap.sh installs it"
        if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(text, file: file, line: line) }
        throw XCTSkip("SKIPPED (tool missing): " + text)
    }

    /// Writes the DICOM file `src` re-encoded in `syntax` (a `pydicom.uid` name such as `RLELossless` — pydicom's
    /// own encoder — or `JPEG2000Lossless` — pylibjpeg-openjpeg) to `dst`.
    public static func compressDICOM(_ src: URL, to dst: URL, syntax: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let script = """
        import sys, pydicom, pydicom.uid as u
        ds = pydicom.dcmread(sys.argv[1]); ds.compress(getattr(u, sys.argv[3])); ds.save_as(sys.argv[2])
        """
        let r = try run(["python3", "-c", script, src.path, dst.path, syntax])
        guard r.status != 0 else { return }
        if try run(["python3", "-c", "import pydicom, openjpeg, numpy"]).status != 0 {
            try missing("python3 with pydicom, pylibjpeg-openjpeg and numpy is needed to compress the test DICOM", file: file, line: line)
        }
        XCTFail("pydicom could not write \(syntax): \(r.err)", file: file, line: line)
        throw XCTSkip("compression failed")
    }
}
