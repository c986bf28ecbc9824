import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MedSAMTools

/// The server's working folder: private (0700 folders, 0600 files), never predictable, never shared with another
/// user, and cleaned of what crashed runs left behind.
///
/// ```swift
/// let folder = try WorkFolder.createRun(in: nil)   // /tmp/medsam-serve.<pid>.XXXXXX, mode 0700
/// defer { try? FileManager.default.removeItem(at: folder) }
/// ```
public enum WorkFolder {
    /// Run folders are named `medsam-serve.<pid>.<6 random characters>` (mkdtemp).
    static let prefix = "medsam-serve."

    /// Creates this run's folder inside `base` (default: the temporary directory) with `mkdtemp`, after
    /// checking an explicit `base` (created 0700 when missing; an existing one must be a directory owned by this
    /// user and not writable by group or others) and removing run folders of earlier runs whose process is gone.
    /// - Throws: `ToolError` when `base` is unsafe or the folder cannot be created.
    public static func createRun(in base: URL?) throws -> URL {
        let parent: URL
        if let base {
            if FileManager.default.fileExists(atPath: base.path) { try checkPrivate(base) } else { try makePrivateDirectory(base) }
            parent = base
        } else {
            parent = FileManager.default.temporaryDirectory
        }
        removeOrphans(in: parent)
        var template = Array(parent.appendingPathComponent("\(prefix)\(getpid()).XXXXXX").path.utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        guard made else { throw ToolError("cannot create a working folder in \(parent.path): \(String(cString: strerror(errno)))") }
        return URL(fileURLWithPath: String(cString: template), isDirectory: true)
    }

    /// Refuses a folder another user could write into or replace: not a directory, not owned by this user, or
    /// group/other-writable.
    /// - Throws: `ToolError` naming the problem.
    public static func checkPrivate(_ url: URL) throws {
        var st = stat()
        guard stat(url.path, &st) == 0 else { throw ToolError("working folder \(url.path): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ToolError("working folder \(url.path) is not a folder") }
        guard st.st_uid == geteuid() else {
            throw ToolError("working folder \(url.path) belongs to another user (uid \(st.st_uid)); use a folder of your own")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw ToolError("working folder \(url.path) is writable by others (mode \(String(st.st_mode & 0o777, radix: 8))); "
                            + "chmod go-w it or use another folder")
        }
    }

    /// `mkdir` with mode 0700 (parents created as usual); an existing folder must pass ``checkPrivate(_:)``.
    /// - Throws: `ToolError` when it cannot be created.
    static func makePrivateDirectory(_ url: URL) throws {
        let parent = url.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: parent.path) {
            try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        }
        guard mkdir(url.path, 0o700) == 0 else {
            if errno == EEXIST { return try checkPrivate(url) }
            throw ToolError("cannot create the working folder \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `data` to a new file (never an existing one or a link) with mode 0600.
    /// - Throws: `ToolError` when the file exists or cannot be written.
    static func writePrivateFile(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ToolError("cannot write \(url.lastPathComponent): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw ToolError("cannot write \(url.lastPathComponent): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
    }

    /// Removes `medsam-serve.<pid>.*` folders in `parent` that this user owns and whose process no longer runs
    /// (a crashed or `kill -9`ed server); returns their names.
    @discardableResult
    static func removeOrphans(in parent: URL) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent.path) else { return [] }
        var removed = [String]()
        for name in names where name.hasPrefix(prefix) {
            let parts = name.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[1].count == 6, let pid = Int32(parts[0]), pid > 0, pid != getpid() else { continue }
            let path = parent.appendingPathComponent(name).path
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid() else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }   // still running (or not ours to ask)
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(name) }
        }
        return removed
    }
}
