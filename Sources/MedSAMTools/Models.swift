import Checkpoint
import Foundation
import Imaging
import MedSAM
import NN

/// Finding model variants and their checkpoints for the CLI and the server.
public enum ModelLoader {
    /// The variant `--model` names (its id or an alias) in `registry`.
    public static func variant(_ text: String, registry: ModelRegistry = .standard) throws -> ModelVariant {
        do {
            return try registry.variant(named: text)
        } catch SegmenterError.unknownModel(_, let known) {
            throw ToolError("--model '\(text)': unknown model (use \(known.joined(separator: ", ")))")
        }
    }

    /// Parses `--model` into the model's name.
    public static func kind(_ text: String, registry: ModelRegistry = .standard) throws -> ModelKind {
        try variant(text, registry: registry).kind
    }

    /// One line per variant for `--help`: `id — summary`.
    public static func help(_ registry: ModelRegistry = .standard) -> String {
        registry.variants.map { "\($0.kind.id) — \($0.summary)" }.joined(separator: "; ")
    }

    /// Where a cached checkpoint named `name` is looked for, in order: `$MEDSAM_CHECKPOINT_DIR`,
    /// `./.cache/checkpoints`, and `.cache/checkpoints` in the folders above the executable (a checkout's
    /// `.build/<config>/medsam` finds `<checkout>/.cache/checkpoints`).
    public static func cacheCandidates(_ name: String) -> [URL] {
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
        return dirs.map { $0.appendingPathComponent(name) }
    }

    /// Where the cached LiteMedSAM checkpoint is looked for (``cacheCandidates(_:)`` of `lite_medsam.pth`).
    public static func liteCandidates() -> [URL] { cacheCandidates("lite_medsam.pth") }

    /// The checkpoint to load: `--checkpoint` if given (must exist), else the variant's cached one.
    public static func checkpoint(for variant: ModelVariant, explicit: String?) throws -> URL {
        if let explicit {
            let url = URL(fileURLWithPath: explicit)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
                throw ToolError("--checkpoint: no such file: \(url.path)")
            }
            return url
        }
        guard let name = variant.cachedCheckpointName else {
            throw ToolError("--model \(variant.kind.id) needs --checkpoint PATH: \(variant.checkpointHint)")
        }
        if let found = cacheCandidates(name).first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
        throw ToolError("\(variant.kind.displayName) checkpoint \(name) not found (looked in $MEDSAM_CHECKPOINT_DIR, ./.cache/checkpoints and the checkout); \(variant.checkpointHint)")
    }

    /// Loads `variant` from `--checkpoint` or its cached checkpoint, its image encoder in `precision`.
    public static func load(_ variant: ModelVariant, checkpoint: String?, registry: ModelRegistry = .standard,
                            precision: Precision = .fp32) throws -> Segmenter {
        let url = try self.checkpoint(for: variant, explicit: checkpoint)
        return try Segmenter(variant: variant, checkpoint: url, registry: registry, precision: precision)
    }

    /// Loads the variant `--model` names.
    public static func load(_ model: ModelKind, checkpoint: String?, registry: ModelRegistry = .standard,
                            precision: Precision = .fp32) throws -> Segmenter {
        try load(try registry.variant(for: model), checkpoint: checkpoint, registry: registry, precision: precision)
    }

    /// Parses `--precision` (`fp32`, `int8`, `bf16`; any case).
    public static func precision(_ text: String) throws -> Precision {
        guard let p = Precision(rawValue: text.lowercased()) else {
            throw ToolError("--precision '\(text)': unknown precision (use \(Precision.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return p
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
