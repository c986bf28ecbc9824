import ArgumentParser
import Foundation
import MedSAM
import MedSAMServer
import MedSAMTools
import Tensor
#if canImport(Glibc)
import Glibc
#endif

// `medsam`: MedSAM / LiteMedSAM from the command line. Logic lives in MedSAMTools; this file only maps
// arguments. Every failure ends with ONE line `error: …` on stderr and a non-zero exit status.

struct Medsam: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "medsam",
        abstract: "Box-prompted medical image segmentation with MedSAM and LiteMedSAM on the CPU.",
        discussion: """
        Examples:
          medsam segment ct.dcm --box 87,97,345,305 --output mask.png --overlay overlay.png
          medsam volume brain.nii.gz --box3d 40,30,3,90,80,12 --output labels.nii.gz
          medsam batch cases/ segs/ --shard 1/4
          medsam eval segs/ cases/ --csv scores.csv
          medsam serve --port 8080
        """,
        version: "0.1.0",
        subcommands: [Segment.self, VolumeCommand.self, BatchCommand.self, Eval.self, Convert.self, Info.self, Serve.self]
    )
}

struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Model: \(ModelLoader.help())."))
    var model: String = "lite"
    @Option(help: "Checkpoint (.pth or .safetensors). Default for lite: $MEDSAM_CHECKPOINT_DIR or .cache/checkpoints/lite_medsam.pth.")
    var checkpoint: String?
    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?
    @Option(help: "Image encoder precision: fp32 (exact, default), int8, bf16 (needs AVX512_BF16).")
    var precision: String = "fp32"

    var encoderPrecision: Precision { get throws { try ModelLoader.precision(precision) } }

    func applyThreads() throws {
        if let threads {
            guard threads >= 1 else { throw ToolError("--threads \(threads): must be at least 1") }
            ComputeThreads.set(threads)
        }
    }
}

let windowHelp = ArgumentHelp(
    "Intensity window for raw values: soft-tissue, lung, bone, brain, L,W (HU), percentile or none.",
    discussion: "Default: 8-bit data as it is; CT (DICOM Modality CT, or data with negative values) soft-tissue L40/W400; other 16-bit/float data the percentile rule (0.5–99.5 % of positive values, MedSAM's pre_CT_MR.py).")

func say(_ line: String) { print(line) }

/// DICOM Segmentation output (DICOM input only).
struct SegOptions: ParsableArguments {
    @Option(help: "dicom-seg: write a DICOM Segmentation object (also chosen by an --output ending in .dcm), one segment per box, referencing the DICOM input.")
    var format: String?
    @Option(name: .customLong("label"), parsing: .unconditionalSingleValue,
            help: "DICOM SEG segment label of the k-th box: NAME, NAME:tissue (default, SCT Tissue) or NAME:lesion (SCT Lesion); default 'object k' (repeatable).")
    var labels: [String] = []
}

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment a 2-D image (or one slice of a volume) with box and point prompts.",
        discussion: """
        Inputs: PNG/JPEG (8/16-bit, gray/RGB), .npy (H,W), DICOM file or folder, NIfTI (axial slice --slice, \
        default the middle one), CVPR24 challenge 2-D .npz (its own boxes when no --box is given).
        Output: label mask (0 background, k for the k-th box, later boxes win): .png (8-bit, 16-bit above 255 \
        labels) or .npy for images; NIfTI with the input's geometry for NIfTI input; .npz `segs` for npz input.
        Coordinates are pixels of the image as read (x = column, y = row; NIfTI slices in display orientation).
        DICOM input: --output seg.dcm (or --format dicom-seg) writes a DICOM Segmentation referencing the source.

        Example:
          medsam segment Fixtures/data/dicompyler_ct/ct0.png --box 87,97,345,305 --output mask.png --overlay overlay.png
          medsam segment CT_small.dcm --box 20,20,100,100 --window bone --output mask.png --probabilities probs.npy
        """)

    @Argument(help: "Input image (PNG, JPEG, .npy, DICOM file/folder, NIfTI, NRRD, MetaImage, challenge .npz).")
    var image: String
    @Option(name: .customLong("box"), parsing: .unconditionalSingleValue, help: "Box x0,y0,x1,y1 in pixels (repeatable; one object each).")
    var boxes: [String] = []
    @Option(name: .customLong("point"), parsing: .unconditionalSingleValue,
            help: "Point x,y[,label] (label 1 = object, 0 = background); K:x,y[,label] refines box K (repeatable).")
    var points: [String] = []
    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.short, .long], help: "Label mask to write (.png/.npy; .nii/.nii.gz for NIfTI input; .npz for npz input).")
    var output: String
    @Option(help: "Write float32 probabilities, shape (boxes, H, W), to this .npy file.")
    var probabilities: String?
    @Option(help: "Write an RGB PNG of the image with coloured masks and boxes.")
    var overlay: String?
    @Option(help: windowHelp)
    var window: String?
    @Option(help: "Slice (NIfTI axial slice, DICOM frame or series slice), 0-based; default the middle one.")
    var slice: Int?
    @Option(help: "DICOM folder with several series: the SeriesInstanceUID to segment (default: the one with the most slices; all are listed).")
    var series: String?
    @OptionGroup var segOptions: SegOptions

    func run() throws {
        try modelOptions.applyThreads()
        var r = SegmentRequest(input: image, output: output)
        r.format = segOptions.format; r.labels = segOptions.labels
        r.boxes = boxes; r.points = points; r.model = modelOptions.model; r.checkpoint = modelOptions.checkpoint
        r.precision = try modelOptions.encoderPrecision
        r.probabilities = probabilities; r.overlay = overlay; r.window = window; r.slice = slice; r.series = series
        try Pipelines.segment(r, log: say)
    }
}

struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Segment a 3-D volume with LiteMedSAM's slice propagation.",
        discussion: """
        Inputs: NIfTI (.nii, .nii.gz; windowed over the whole volume, see --window), a CVPR24 3-D challenge .npz \
        (its own boxes when no --box3d is given) or DICOM (series folder, multi-frame file). Output: NIfTI with the \
        input's geometry, or .npz with `segs`; for DICOM .nii/.nii.gz/.nrrd/.mha/.npy labels or a DICOM Segmentation \
        (.dcm or --format dicom-seg). Box coordinates: x = column, y = row of the axial slices in display orientation \
        (as `medsam segment --slice`), z = slice index; maxima inclusive for z.

        Example:
          medsam volume Fixtures/io/nifti/mni152_t1_z55-65.nii.gz --box3d 40,60,2,150,170,8 --output wm.nii.gz
          medsam volume 3DBox_MR_0001.npz --output segs/3DBox_MR_0001.npz
        """)

    @Argument(help: "Input volume (NIfTI, 3-D challenge .npz, DICOM series folder or multi-frame file, NRRD, MetaImage).")
    var volume: String
    @Option(name: .customLong("box3d"), parsing: .unconditionalSingleValue, help: "3-D box x0,y0,z0,x1,y1,z1 (repeatable).")
    var boxes: [String] = []
    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.short, .long], help: "Output (.nii/.nii.gz for NIfTI input, .npz for npz input).")
    var output: String
    @Option(help: windowHelp)
    var window: String?
    @Option(help: "DICOM folder with several series: the SeriesInstanceUID to segment (default: the one with the most slices).")
    var series: String?
    @OptionGroup var segOptions: SegOptions

    func run() throws {
        try modelOptions.applyThreads()
        var r = VolumeRequest(input: volume, output: output)
        r.format = segOptions.format; r.labels = segOptions.labels; r.series = series
        r.boxes = boxes; r.model = modelOptions.model; r.checkpoint = modelOptions.checkpoint; r.window = window
        r.precision = try modelOptions.encoderPrecision
        try Pipelines.volume(r, log: say)
    }
}

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Segment every case of a folder: resumable, atomic outputs, shardable.",
        discussion: """
        Cases: challenge .npz files (2-D or 3-D, their own boxes) → OUTPUT_DIR/<name>.npz with `segs`; images \
        (.png .jpg .npy .dcm) or NIfTI with a sidecar <stem>.boxes.txt (one box per line: x0,y0,x1,y1, or \
        x0,y0,z0,x1,y1,z1 for NIfTI) → <stem>.png / <stem>.nii.gz. Finished outputs are skipped, so a rerun \
        resumes; outputs are written to a temporary name and renamed when complete. --shard i/n takes every n-th \
        case of the sorted list starting at the i-th (1-based), e.g. in a Slurm array: \
        --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.

        Example:
          medsam batch imgs/ segs/ --shard 2/4
        """)

    @Argument(help: "Folder of cases.") var inputDir: String
    @Argument(help: "Folder for the outputs (created if missing).") var outputDir: String
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Process shard i of n (1-based).") var shard: String?

    func run() throws {
        try modelOptions.applyThreads()
        let kind = try ModelLoader.kind(modelOptions.model)
        let s = try shard.map(ArgumentValues.shard) ?? (index: 1, count: 1)
        let inDir = URL(fileURLWithPath: inputDir), outDir = URL(fileURLWithPath: outputDir)
        let (all, skippedFiles) = try Batch.cases(in: inDir, outputDir: outDir)
        let mine = Batch.shard(all, index: s.index, count: s.count)
        do { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) } catch {
            throw ToolError("cannot create \(outDir.path): \(error.localizedDescription)")
        }
        for f in skippedFiles { FileHandle.standardError.write(Data("note: not a case: \(f)\n".utf8)) }
        let todo = mine.filter { !Batch.isFinished($0) }
        say("\(all.count) case(s); shard \(s.index)/\(s.count): \(mine.count), \(mine.count - todo.count) already done")
        guard !mine.isEmpty else { return }
        let segmenter = todo.isEmpty ? nil : try ModelLoader.load(kind, checkpoint: modelOptions.checkpoint,
                                                                          precision: try modelOptions.encoderPrecision)
        let progress = ProgressReporter(total: mine.count)
        var failed = [String]()
        for c in mine {
            if Batch.isFinished(c) { progress.step(c.name, status: "done earlier, skipped", seconds: nil); continue }
            let t0 = Date()
            do {
                try Batch.run(c, segmenter: segmenter!)
                progress.step(c.name, status: "ok", seconds: Date().timeIntervalSince(t0))
            } catch {
                failed.append(c.name)
                progress.step(c.name, status: "FAILED", seconds: Date().timeIntervalSince(t0))
                FileHandle.standardError.write(Data("error: \(c.name): \(oneLineDescription(error))\n".utf8))
            }
        }
        if !failed.isEmpty { throw ToolError("\(failed.count) of \(mine.count) case(s) failed: \(failed.joined(separator: ", "))") }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "DSC and NSD per case and per label (CVPR24 compute_metrics.py).",
        discussion: """
        Compares `segs` of PRED_DIR/<name>.npz with `gts` of GT_DIR/<name>.npz for every .npz in GT_DIR \
        (3-D spacing from the ground truth's `spacing`, else 1). Missing predictions count as 0.

        Example:
          medsam eval segs/ cases/ --csv scores.csv --tolerance 2
        """)

    @Argument(help: "Folder of predictions (.npz with segs).") var predDir: String
    @Argument(help: "Folder of ground truth (.npz with gts).") var gtDir: String
    @Option(help: "Write per-label and per-case scores to this CSV file.") var csv: String?
    @Option(help: "NSD tolerance in mm (voxels for 2-D).") var tolerance: Double = 2

    func run() throws {
        if let csv { try OutputWriter.checkExtension(URL(fileURLWithPath: csv), allowed: ["csv"], what: "--csv") }
        let results = try Evaluation.evaluate(predictions: URL(fileURLWithPath: predDir), groundTruth: URL(fileURLWithPath: gtDir),
                                              tolerance: tolerance)
        for r in results {
            if let s = r.scores {
                say(String(format: "%@: DSC %.4f, NSD %.4f", r.name, s.dsc, s.nsd))
            } else {
                say("\(r.name): prediction missing")
            }
        }
        say(Evaluation.summary(results))
        if let csv {
            let text = Evaluation.csv(results)
            try AtomicFile.write(URL(fileURLWithPath: csv)) { try Data(text.utf8).write(to: $0) }
        }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint to safetensors, or an image/volume to NIfTI, NRRD, MetaImage or .npy.",
        discussion: """
        Checkpoints: a PyTorch .pth (or safetensors) → .safetensors (--half: float16; --precision int8|bf16: the \
        image encoder's Linear weights stored quantised, a smaller file that loads without the fp32 original).
        Images and volumes: IN is a DICOM file or series folder, NIfTI, NRRD (.nrrd/.nhdr), MetaImage (.mha/.mhd), \
        PNG/JPEG, .npy or challenge .npz; OUT by extension: .nii/.nii.gz, .nrrd, .mha (geometry kept) or .npy. \
        Values are modality values (rescale / Modality LUT applied; MONOCHROME1 not inverted).

        Examples:
          medsam convert .cache/checkpoints/lite_medsam.pth lite_medsam.safetensors --half
          medsam convert CT_series/ ct.nrrd
        """)
    @Argument(help: "Input checkpoint, image or volume.") var input: String
    @Argument(help: "Output (.safetensors, .nii, .nii.gz, .nrrd, .mha, .npy).") var output: String
    @Flag(help: "Checkpoints: store float16 (half the size).") var half = false
    @Option(help: "Checkpoints: store the image encoder's Linear weights as int8 or bf16 (default fp32).") var precision = "fp32"

    func run() throws {
        let checkpointInput = ["pth", "pt", "ckpt", "torch", "safetensors"].contains(URL(fileURLWithPath: input).pathExtension.lowercased())
        if output.lowercased().hasSuffix(".safetensors") || checkpointInput {
            say(try CheckpointTools.convert(input, output, half: half, precision: try ModelLoader.precision(precision)))
        } else {
            say(try ImageConverter.convert(URL(fileURLWithPath: input), URL(fileURLWithPath: output)))
        }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's model kind, parameter count and keys by prefix.",
        discussion: """
        Example:
          medsam info .cache/checkpoints/lite_medsam.pth
        """)
    @Argument(help: "Checkpoint (.pth or .safetensors).") var checkpoint: String
    func run() throws { say(try CheckpointTools.info(checkpoint)) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the interactive page: open an image, draw boxes, see the masks, download the labels.",
        discussion: """
        Starts a local web server (loopback only unless --host says otherwise) and prints its URL. The page opens \
        PNG/JPEG, DICOM, NIfTI (slice slider) and challenge .npz files, computes each slice's image embedding once, \
        and runs only the prompt encoder and mask decoder per box. Uploads are written only inside --workdir \
        (in a new private folder, removed at exit). The printed URL carries a per-launch token (?token=…); beyond \
        loopback every request needs it. API and security rules: docs/SERVE.md. Stop with Ctrl-C.

        Example:
          medsam serve --port 8080
          medsam serve --model medsam --checkpoint medsam_vit_b.pth --host 0.0.0.0 --max-upload-mb 1024
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Address to bind (default loopback; 0.0.0.0 exposes the page to the network).")
    var host: String = "127.0.0.1"
    @Option(help: "TCP port (0 = any free port).")
    var port: Int = 8080
    @Option(help: "Folder in which the run's private upload folder is made (default: the temporary directory); must be yours and not writable by others.")
    var workdir: String?
    @Option(help: "Largest accepted upload, MB.")
    var maxUploadMb: Int = 512
    @Option(help: "Folder with index.html, app.js and style.css to serve instead of the built-in page.")
    var webRoot: String?
    @Option(help: "Memory for uploads, embeddings and masks together, MB (default: a quarter of the machine's memory).")
    var memoryBudget: Int?
    @Option(name: .customLong("allow-host"), parsing: .unconditionalSingleValue,
            help: "Also answer requests whose Host is this name (repeatable; e.g. the machine's DNS name with --host 0.0.0.0).")
    var allowHosts: [String] = []
    @Option(help: ArgumentHelp("Access token (default: a new random one per launch, printed in the URL).",
                               discussion: "Needed for every request when --host is not loopback; on loopback it is optional (same-origin pages work without it). An empty --token '' disables it, on loopback only."))
    var token: String?

    func run() async throws {
        try modelOptions.applyThreads()
        // A long-running process: a fixed malloc mmap threshold returns freed temporaries to the system
        // (TensorMemory.useFixedMallocThreshold). MEDSAM_DEFAULT_MALLOC=1 keeps glibc's default.
        if ProcessInfo.processInfo.environment["MEDSAM_DEFAULT_MALLOC"] == nil { TensorMemory.useFixedMallocThreshold() }
        guard (0...65535).contains(port) else { throw ToolError("--port \(port): must be 0…65535") }
        guard maxUploadMb >= 1, maxUploadMb <= 1 << 20 else { throw ToolError("--max-upload-mb \(maxUploadMb): must be 1…1048576") }
        let kind = try ModelLoader.kind(modelOptions.model)
        var config = ServerConfiguration(workdir: URL(fileURLWithPath: "/"))
        config.host = host
        config.port = port
        config.maxUploadBytes = maxUploadMb << 20
        config.webRoot = webRoot.map { URL(fileURLWithPath: $0) }
        config.allowedHosts = allowHosts
        if let memoryBudget {
            guard memoryBudget >= 16, memoryBudget <= 1 << 30 else { throw ToolError("--memory-budget \(memoryBudget): must be 16…1073741824 MB") }
            config.memoryBudgetBytes = memoryBudget << 20
        }
        config.token = token ?? RequestGuard.newToken()
        if !config.isLoopback && config.token == "" {
            throw ToolError("--host \(host) is not loopback: the server needs a token (leave out --token '' or give one)")
        }
        let t0 = Date()
        let segmenter = try ModelLoader.load(kind, checkpoint: modelOptions.checkpoint, precision: try modelOptions.encoderPrecision)
        // This run's own folder (mkdtemp, 0700) inside --workdir or the temporary directory; removed at exit.
        let folder = try WorkFolder.createRun(in: workdir.map { URL(fileURLWithPath: $0) })
        defer { try? FileManager.default.removeItem(at: folder) }
        config.workdir = folder
        let api = try ServerAPI(segmenter: segmenter, configuration: config)
        FileHandle.standardOutput.write(Data(String(format: "%@ loaded in %.2f s; uploads go to %@\n", segmenter.model.displayName,
                                                    Date().timeIntervalSince(t0), folder.path).utf8))
        if !config.isLoopback {
            FileHandle.standardError.write(Data("note: --host \(host) makes the page reachable from other machines; every request needs the token in the URL below\n".utf8))
        }
        try await SegmentationServer(api: api).run { url in
            // Unbuffered: a script reading the URL from a pipe sees it at once.
            FileHandle.standardOutput.write(Data("MedSAM-Swift serving at \(url)  (Ctrl-C to stop)\n".utf8))
        }
    }
}

// Entry point: parse, run, and turn every error into one line.
/// Calls the `async` `run()` (at top level the synchronous default would be picked, which prints help).
func runAsync(_ command: AsyncParsableCommand) async throws {
    var command = command
    try await command.run()
}

func fail(_ message: String, code: Int32) -> Never {
    let line = message.split(whereSeparator: \.isNewline).first.map(String.init) ?? "failed"
    FileHandle.standardError.write(Data("error: \(line)\n".utf8))
    exit(code)
}

var command: ParsableCommand
do {
    command = try Medsam.parseAsRoot()
} catch {
    if Medsam.exitCode(for: error) == .success { Medsam.exit(withError: error) }
    var message = Medsam.message(for: error)
    if message.hasPrefix("Error: ") { message.removeFirst(7) }
    fail(message, code: Medsam.exitCode(for: error).rawValue)
}
do {
    if let asyncCommand = command as? AsyncParsableCommand {
        try await runAsync(asyncCommand)
    } else {
        try command.run()
    }
} catch {
    // Help requests of command groups arrive here (thrown by `run()`), as do CleanExit / ExitCode.
    if error is CleanExit || error is ExitCode || Medsam.exitCode(for: error) == .success { Medsam.exit(withError: error) }
    fail(oneLineDescription(error), code: 1)
}
