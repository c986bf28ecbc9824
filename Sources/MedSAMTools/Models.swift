import Foundation
import MedSAM

/// Finding and loading checkpoints.
public enum ModelLoader {
    /// Parses `--model`.
    public static func kind(_ text: String) throws -> ModelKind {
        switch text.lowercased() {
        case "lite", "litemedsam", "lite-medsam": return .liteMedSAM
        case "medsam", "medsam-vit-b", "vit-b": return .medSAM
        default: throw ToolError("--model '\(text)': unknown model (use lite or medsam)")
        }
    }

    /// Where the cached LiteMedSAM checkpoint is looked for, in order: `$MEDSAM_CHECKPOINT_DIR`,
    /// `./.cache/checkpoints`, and `.cache/checkpoints` in the folders above the executable (a checkout's
    /// `.build/<config>/medsam` finds `<checkout>/.cache/checkpoints`).
    public static func liteCandidates() -> [URL] {
        var dirs = [URL]()
        if let d = ProcessInfo.processInfo.environment["MEDSAM_CHECKPOINT_DIR"], !d.isEmpty {
            dirs.append(URL(fileURLWithPath: d))
        }
        dirs.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".cache/checkpoints"))
        var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        if let e = Bundle.main.executableURL { exe = e.resolvingSymlinksInPath().deletingLastPathComponent() }
        for _ in 0..<5 {
            dirs.append(exe.appendingPathComponent(".cache/checkpoints"))
            exe = exe.deletingLastPathComponent()
        }
        return dirs.map { $0.appendingPathComponent("lite_medsam.pth") }
    }

    /// The checkpoint to load: `--checkpoint` if given (must exist), else the cached LiteMedSAM one.
    public static func checkpoint(for model: ModelKind, explicit: String?) throws -> URL {
        if let explicit {
            let url = URL(fileURLWithPath: explicit)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
                throw ToolError("--checkpoint: no such file: \(url.path)")
            }
            return url
        }
        switch model {
        case .medSAM:
            throw ToolError("--model medsam needs --checkpoint PATH: download medsam_vit_b.pth from the MedSAM authors (github.com/bowang-lab/MedSAM, 'Model checkpoints') and pass it")
        case .liteMedSAM:
            if let found = liteCandidates().first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
            throw ToolError("LiteMedSAM checkpoint lite_medsam.pth not found (looked in $MEDSAM_CHECKPOINT_DIR, ./.cache/checkpoints and the checkout); get it with `bash scripts/fetch-checkpoints.sh` or pass --checkpoint PATH")
        }
    }

    public static func load(_ model: ModelKind, checkpoint: String?) throws -> Segmenter {
        let url = try self.checkpoint(for: model, explicit: checkpoint)
        return try Segmenter(model, checkpoint: url)
    }
}

/// Turns any error into one line for `error: …`.
public func oneLineDescription(_ error: any Error) -> String {
    let text: String
    if let e = error as? ToolError {
        text = e.message
    } else if error is CocoaError || type(of: error as Any) is NSError.Type {
        text = error.localizedDescription
    } else {
        text = String(describing: error)
    }
    return text.split(whereSeparator: \.isNewline).joined(separator: " ")
}
