import Foundation
import ImageEncoder
import Imaging
import MedSAM
import MedSAMTools
import MedicalIO
import NN
import Preprocess
import PromptEncoder
import Tensor
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue #7: `medsam batch` killed with SIGKILL in the middle of its work, three times at different moments,
/// then restarted, completes with every output present, valid and equal to an uninterrupted run's; no
/// half-written file ever appears under a final name and no temporary file is left at the end.
final class CLIBatchKillTests: XCTestCase {
    /// Two real 2-D cases: the MNI T1 challenge crop (`.npz` with its own two boxes → `.npz` with `segs`) and
    /// the dicompyler CT slice (int16 `.npy` + `.boxes.txt` with the two BODY boxes of `cases.json` → `.png`).
    enum Variant: CaseIterable { case mri, ct }

    struct Reference {
        let segs: MedicalIO.NPYArray   // mri
        let mask: Image          // ct
    }

    static let ctBoxes = "87,97,345,305\n345,128,483,282\n"

    /// Writes case `stem` of `variant` into `dir`; returns its output name.
    @discardableResult
    func addCase(_ stem: String, _ variant: Variant, to dir: URL) throws -> String {
        let fm = FileManager.default
        switch variant {
        case .mri:
            try fm.copyItem(at: fixtureURL("io/challenge/2DT1_MNI_demo.npz"), to: dir.appendingPathComponent(stem + ".npz"))
            return stem + ".npz"
        case .ct:
            try fm.copyItem(at: fixtureURL("data/dicompyler_ct/ct0_image.npy"), to: dir.appendingPathComponent(stem + ".npy"))
            try Data(Self.ctBoxes.utf8).write(to: dir.appendingPathComponent(stem + ".boxes.txt"))
            return stem + ".png"
        }
    }

    /// Parses an output with the MedicalIO readers and compares it with the uninterrupted run's.
    func assertEqualsReference(_ url: URL, _ variant: Variant, _ ref: Reference, _ when: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        do {
            switch variant {
            case .mri:
                let segs = try NPZArchive.read(url).array("segs")
                XCTAssertEqual(segs, ref.segs, "\(when): \(url.lastPathComponent) differs from the uninterrupted run", file: file, line: line)
            case .ct:
                let m = try PNGFile.read(url)
                XCTAssertEqual([m.width, m.height, m.channels], [ref.mask.width, ref.mask.height, ref.mask.channels],
                               "\(when): \(url.lastPathComponent)", file: file, line: line)
                XCTAssertTrue(m.pixels == ref.mask.pixels, "\(when): \(url.lastPathComponent) differs from the uninterrupted run",
                              file: file, line: line)
            }
        } catch {
            XCTFail("\(when): \(url.lastPathComponent) is not a complete, valid output: \(error)", file: file, line: line)
        }
    }

    /// When to send SIGKILL to a run.
    enum KillMoment: CustomStringConvertible {
        /// As soon as anything new (a temporary file, an output) appears in the output folder (polled every 0.25 ms):
        /// usually while the first output is being written.
        case onFirstWrite
        /// `fraction` of a case's time after the first new output, i.e. inside the next case
        /// (or at once when a second new output appears first).
        case inNextCase(fraction: Double)
        /// `seconds` after the start (model loading or first case), or at once when a new output appears first.
        case early(seconds: Double)

        var description: String {
            switch self {
            case .onFirstWrite: "on the first write"
            case .inNextCase(let f): String(format: "%.2f of a case after the first new output", f)
            case .early(let s): String(format: "%.2f s after the start", s)
            }
        }
    }

    func testBatchKilledThreeTimesThenRestartedCompletesWithValidOutputs() throws {
        let ckpt = try liteMedSAMCheckpoint()
        let exe = try XCTUnwrap(CLI.executable, "medsam executable not found next to the test bundle (build it: swift build)")
        let fm = FileManager.default
        let dir = try CLI.temporaryDirectory()
        defer { try? fm.removeItem(at: dir) }
        func folder(_ name: String) throws -> URL {
            let u = dir.appendingPathComponent(name)
            try fm.createDirectory(at: u, withIntermediateDirectories: true)
            return u
        }
        let refIn = try folder("ref-in"), refOut = try folder("ref-out"), inDir = try folder("in"), outDir = dir.appendingPathComponent("out")

        // Reference: one uninterrupted run over one case of each variant.
        try addCase("mri", .mri, to: refIn)
        try addCase("ct", .ct, to: refIn)
        let t0 = Date()
        let refRun = try CLI.run(["batch", refIn.path, refOut.path, "--checkpoint", ckpt.path])
        let refSeconds = Date().timeIntervalSince(t0)
        XCTAssertEqual(refRun.status, 0, refRun.stderr)
        let ref = Reference(segs: try NPZArchive.read(refOut.appendingPathComponent("mri.npz")).array("segs"),
                            mask: try PNGFile.read(refOut.appendingPathComponent("ct.png")))
        // The reference is a real segmentation: both boxes of each case segmented; CT matches the BODY contour.
        XCTAssertEqual(ref.segs.shape, [64, 96])
        let segs = try ref.segs.uint8s()
        for l in [UInt8(1), 2] { XCTAssertGreaterThan(segs.filter { $0 == l }.count, 100, "MRI label \(l)") }
        XCTAssertEqual([ref.mask.width, ref.mask.height, ref.mask.channels], [512, 512, 1])
        let gt = try PNGFile.read(fixtureURL("data/dicompyler_ct/ct0_mask.png"))
        for l in [Float(1), 2] {
            let p = ref.mask.pixels.map { $0 == l }, g = gt.pixels.map { $0 == l }
            let inter = zip(p, g).filter { $0 && $1 }.count
            let dsc = 2 * Double(inter) / Double(p.filter { $0 }.count + g.filter { $0 }.count)
            XCTAssertGreaterThan(dsc, 0.5, "CT label \(Int(l)) vs the BODY contour")
        }
        // Seconds per case and for start-up (model loading), from the progress lines `… ok in 4.1 s`.
        let caseTimes = refRun.stderrLines.compactMap { line -> Double? in
            guard let r = line.range(of: ": ok in ") else { return nil }
            return Double(line[r.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        XCTAssertEqual(caseTimes.count, 2, refRun.stderr)
        let caseSeconds = max(caseTimes.max() ?? 1, 0.05)
        let startSeconds = max(refSeconds - caseTimes.reduce(0, +), 0.05)

        // Five cases, alternating variants: case1.npz case2.npy case3.npz case4.npy case5.npz.
        var expected = [String: Variant]()
        for i in 1...5 {
            let v: Variant = i % 2 == 1 ? .mri : .ct
            expected[try addCase("case\(i)", v, to: inDir)] = v
        }
        let args = ["batch", inDir.path, outDir.path, "--checkpoint", ckpt.path]

        /// Final outputs present now, every one checked against the reference; other files must be temporary.
        var reported = Set<String>()
        func checkOutputs(_ when: String, allowTemporary: Bool) -> Set<String> {
            var done = Set<String>()
            for name in (try? fm.contentsOfDirectory(atPath: outDir.path)) ?? [] {
                if let v = expected[name] {
                    done.insert(name)
                    assertEqualsReference(outDir.appendingPathComponent(name), v, ref, when)
                } else if allowTemporary && AtomicFile.isTemporary(name) {
                    continue
                } else if reported.insert(name).inserted {
                    XCTFail("\(when): unexpected file \(name) in the output folder")
                }
            }
            return done
        }

        // Three kills: while the first output is written, inside a later case, early (start-up or a case). The
        // moments are random but each round adds at most 1, 2 and 1 outputs (its trigger fires at the latest when
        // that many appear, polled far faster than a case runs), so 4 of 5 at most are done before the restart
        // whatever the machine's speed, and each kill hits a running batch.
        var rng = SystemRandomNumberGenerator()
        let moments: [KillMoment] = [.onFirstWrite,
                                     .inNextCase(fraction: Double.random(in: 0.1...0.6, using: &rng)),
                                     .early(seconds: Double.random(in: 0.1...0.9, using: &rng) * (startSeconds + 0.5 * caseSeconds))]
        var log = [String]()
        for (round, moment) in moments.enumerated() {
            let when = "kill \(round + 1) (\(moment))"
            let before = checkOutputs("before \(when)", allowTemporary: true)
            let errURL = dir.appendingPathComponent("stderr-\(round + 1)")
            _ = fm.createFile(atPath: errURL.path, contents: nil)
            let errHandle = try FileHandle(forWritingTo: errURL)
            let p = Process()
            p.executableURL = exe
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = errHandle
            let initial = Set((try? fm.contentsOfDirectory(atPath: outDir.path)) ?? [])
            let start = Date()
            try p.run()
            var firstNew: Date?
            var sawNew = [String]()
            var exitedEarly = false
            while true {
                guard p.isRunning else { exitedEarly = true; break }
                let names = (try? fm.contentsOfDirectory(atPath: outDir.path)) ?? []
                let newCount = names.filter { expected[$0] != nil && !before.contains($0) }.count
                sawNew = names.filter { !initial.contains($0) }
                if newCount > 0 && firstNew == nil { firstNew = Date() }
                let now = Date()
                let fire: Bool
                switch moment {
                case .onFirstWrite: fire = !sawNew.isEmpty
                case .inNextCase(let f): fire = newCount >= 2 || firstNew.map { now.timeIntervalSince($0) >= f * caseSeconds } ?? false
                case .early(let s): fire = newCount >= 1 || now.timeIntervalSince(start) >= s
                }
                if fire { break }
                if now.timeIntervalSince(start) > 300 { XCTFail("\(when): no trigger within 300 s"); break }
                if case .onFirstWrite = moment { usleep(250) } else { usleep(2000) }
            }
            if exitedEarly {
                XCTFail("\(when): the batch ended (status \(p.terminationStatus)) before it was killed")
            } else {
                XCTAssertEqual(kill(p.processIdentifier, SIGKILL), 0, "\(when): kill")
            }
            p.waitUntilExit()
            try errHandle.close()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "\(when): not ended by the signal")
            XCTAssertEqual(p.terminationStatus, SIGKILL, "\(when)")
            // Whatever the moment, a file under a final name is complete and equals the reference.
            let after = checkOutputs("after \(when)", allowTemporary: true)
            XCTAssertTrue(after.isSuperset(of: before), "\(when): an output disappeared")
            XCTAssertLessThan(after.count, expected.count, "\(when): every case was already done, nothing was interrupted")
            let leftovers = ((try? fm.contentsOfDirectory(atPath: outDir.path)) ?? []).filter(AtomicFile.isTemporary)
            log.append(String(format: "%@ after %.2f s: %d → %d outputs%@", when, Date().timeIntervalSince(start), before.count,
                              after.count, sawNew.isEmpty ? "" : " (new: \(sawNew.sorted()))")
                       + (leftovers.isEmpty ? "" : ", left \(leftovers)"))
        }
        let done = checkOutputs("before the restart", allowTemporary: true)
        XCTAssertGreaterThan(done.count, 0, "the kills interrupted the batch after some outputs: \(log)")
        XCTAssertLessThan(done.count, expected.count, "\(log)")

        // Restart with the same arguments: completes, skipping the finished cases.
        let restart = try CLI.run(args)
        XCTAssertEqual(restart.status, 0, restart.stderr)
        XCTAssertTrue(restart.stdout.contains("5 case(s); shard 1/1: 5, \(done.count) already done"), restart.stdout)
        XCTAssertEqual(restart.stderr.components(separatedBy: "done earlier, skipped").count - 1, done.count, restart.stderr)
        XCTAssertEqual(restart.stderr.components(separatedBy: ": ok in ").count - 1, expected.count - done.count, restart.stderr)
        XCTAssertFalse(restart.stderr.contains("FAILED"), restart.stderr)
        // Every output present and equal to the uninterrupted run's; nothing else (no temporary file) left.
        let all = checkOutputs("after the restart", allowTemporary: false)
        XCTAssertEqual(all, Set(expected.keys), "\(log)")
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: outDir.path)), Set(expected.keys))
        print("CLIBatchKillTests: case \(String(format: "%.1f", caseSeconds)) s, start-up \(String(format: "%.1f", startSeconds)) s; "
              + log.joined(separator: "; ") + "; restart finished \(expected.count - done.count) case(s)")
    }
}
