import Foundation
import Tensor
import ZIPFoundation

/// Tensors read from a checkpoint file, in file order, converted to Float32.
struct LoadedTensors: Sendable {
    var keys: [String] = []
    var tensors: [String: Tensor] = [:]
    var dtypes: [String: CheckpointDType] = [:]
    var metadata: [String: String] = [:]

    mutating func add(_ key: String, _ tensor: Tensor, _ dtype: CheckpointDType) {
        if tensors.updateValue(tensor, forKey: key) == nil { keys.append(key) }
        dtypes[key] = dtype
    }
}

/// Reader for `torch.save` files (PyTorch ≥ 1.6 zip format).
///
/// The pickle is interpreted by a restricted unpickler (no code is ever executed);
/// storages are read from the `…/data/<key>` records and views (offset, sizes,
/// strides) are materialised as contiguous Float32 tensors.
public enum TorchCheckpoint {
    /// Keys under which training checkpoints nest the state dict.
    public static let wrapperKeys = ["state_dict", "model", "module", "net"]

    /// Reads the state dict in a `.pth` file. Non-tensor values are skipped, a
    /// `{"model": state_dict, …}` / `{"state_dict": …}` wrapper is unwrapped and a
    /// DDP `module.` prefix is removed.
    static func read(_ url: URL) throws -> LoadedTensors {
        let path = url.path
        let fileSize = try FileProbe.size(of: url)
        let head = try FileProbe.prefix(of: url, count: 512)
        switch FileProbe.kind(head) {
        case .zip: break
        case .legacyTorch: throw CheckpointError.legacyFormat(path)
        default:
            throw head.count < 4 ? CheckpointError.truncated(path) : CheckpointError.unknownFormat(path)
        }

        try ZipPrecheck.validate(url, fileSize: fileSize)
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch let e as Archive.ArchiveError {
            switch e {
            case .missingEndOfCentralDirectoryRecord: throw CheckpointError.truncated(path)
            default: throw CheckpointError.notAZip(path, reason: "\(e)")
            }
        } catch {
            throw CheckpointError.notAZip(path, reason: "\(error)")
        }

        var entries: [String: Entry] = [:]
        for e in archive where e.type == .file { entries[e.path] = e }

        // The record prefix is the archive name at save time: find data.pkl by suffix.
        let pickleCandidates = entries.keys.filter { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }
        guard let picklePath = pickleCandidates.min(by: {
            let a = $0.split(separator: "/").count, b = $1.split(separator: "/").count
            return a != b ? a < b : $0 < $1
        }) else { throw CheckpointError.missingDataPickle(path) }
        let prefix = String(picklePath.dropLast("data.pkl".count))
        let reader = EntryReader(archive: archive, path: path, fileSize: fileSize)

        let pickleEntry = entries[picklePath]!
        let pickleSize = try reader.checkedSize(pickleEntry, name: picklePath)
        var pickleBytes = [UInt8](repeating: 0, count: pickleSize)
        try pickleBytes.withUnsafeMutableBytes { try reader.read(pickleEntry, name: picklePath, into: $0.baseAddress!, count: pickleSize) }

        let graph = try Unpickler.load(pickleBytes)
        let refs = try stateDictTensors(graph)

        // Validate every view against its storage record before allocating anything.
        let elementBudget = 4 * fileSize + (1 << 24)
        var total = 0
        var storageEntries: [String: (entry: Entry, bytes: Int)] = [:]
        for (key, ref) in refs {
            let st = ref.storage
            let entryName = prefix + "data/" + st.key
            guard let entry = entries[entryName] else {
                throw CheckpointError.missingStorage(key: st.key, entry: entryName)
            }
            let (bytes, o) = st.numel.multipliedReportingOverflow(by: st.dtype.itemSize)
            guard !o else { throw CheckpointError.invalidTensor(key: key, reason: "storage numel \(st.numel) overflows") }
            let actual = try reader.checkedSize(entry, name: entryName)
            guard actual == bytes else {
                throw CheckpointError.storageSizeMismatch(key: st.key, expectedBytes: bytes, actualBytes: actual)
            }
            storageEntries[st.key] = (entry, bytes)
            let count = try validateView(ref, key: key)
            total += count
            guard total <= elementBudget else {
                throw CheckpointError.tooLarge("tensor views add up to more than \(elementBudget) elements for a \(fileSize)-byte file")
            }
        }

        // Group views by storage key, in order of first use.
        var order: [String] = []
        var groups: [String: [Int]] = [:]
        for (i, r) in refs.enumerated() {
            if groups[r.1.storage.key] == nil { order.append(r.1.storage.key) }
            groups[r.1.storage.key, default: []].append(i)
        }

        var tensors = [Tensor?](repeating: nil, count: refs.count)
        for skey in order {
            let members = groups[skey]!
            let (entry, bytes) = storageEntries[skey]!
            let entryName = prefix + "data/" + skey
            if members.count == 1 {
                let ref = refs[members[0]].1
                if ref.storage.dtype == .float32, ref.offset == 0, isContiguous(ref),
                    ref.size.reduce(1, *) == ref.storage.numel
                {
                    // Fast path: stream the record straight into the tensor.
                    var t = Tensor(uninitializedShape: ref.size)
                    try t.withUnsafeMutableBufferPointer { buf in
                        try reader.read(entry, name: entryName, into: UnsafeMutableRawPointer(buf.baseAddress!), count: bytes)
                    }
                    tensors[members[0]] = t
                    continue
                }
            }
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
            defer { raw.deallocate() }
            try reader.read(entry, name: entryName, into: raw, count: bytes)
            for m in members { tensors[m] = materialise(refs[m].1, storage: UnsafeRawPointer(raw)) }
        }

        var out = LoadedTensors()
        for (i, r) in refs.enumerated() { out.add(r.0, tensors[i]!, r.1.storage.dtype) }
        return out
    }

    // MARK: - State dict discovery

    static func stateDictTensors(_ graph: PickleGraph) throws -> [(String, TorchTensorRef)] {
        guard let top = graph.stringKeyedEntries(graph.root) else {
            throw CheckpointError.noStateDict("the pickled object is a \(graph[graph.root].typeName), expected a dict")
        }
        func tensors(_ entries: [(key: String, value: Int)]) -> [(String, TorchTensorRef)] {
            entries.compactMap { e in
                if case .tensor(let t) = graph[e.value] { return (e.key, t) }
                return nil
            }
        }
        var found = tensors(top)
        if found.isEmpty {
            for w in wrapperKeys {
                if let inner = top.first(where: { $0.key == w }), let sub = graph.stringKeyedEntries(inner.value) {
                    found = tensors(sub)
                    if !found.isEmpty || sub.isEmpty { break }
                }
            }
        }
        if found.isEmpty && !top.isEmpty {
            let ks = top.prefix(8).map(\.key).joined(separator: ", ")
            throw CheckpointError.noStateDict("no tensors at the top level or under \(wrapperKeys) (top-level keys: \(ks))")
        }
        // DDP / DataParallel prefix.
        var seen = Set<String>()
        var result: [(String, TorchTensorRef)] = []
        for (k, t) in found {
            let key = k.hasPrefix("module.") ? String(k.dropFirst("module.".count)) : k
            if seen.insert(key).inserted { result.append((key, t)) }
        }
        return result
    }

    // MARK: - Views

    /// Checks offset, sizes and strides against the storage; returns the element count.
    static func validateView(_ ref: TorchTensorRef, key: String) throws -> Int {
        guard ref.offset >= 0 else { throw CheckpointError.invalidTensor(key: key, reason: "negative storage offset") }
        guard ref.size.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError.invalidTensor(key: key, reason: "negative size in \(ref.size)")
        }
        guard ref.stride.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError.invalidTensor(key: key, reason: "negative stride in \(ref.stride)")
        }
        var count = 1
        for s in ref.size {
            let (c, o) = count.multipliedReportingOverflow(by: s)
            guard !o else { throw CheckpointError.invalidTensor(key: key, reason: "size \(ref.size) overflows") }
            count = c
        }
        if count == 0 { return 0 }
        var last = ref.offset
        for (s, st) in zip(ref.size, ref.stride) {
            let (span, o1) = (s - 1).multipliedReportingOverflow(by: st)
            let (sum, o2) = last.addingReportingOverflow(span)
            guard !o1 && !o2 else {
                throw CheckpointError.storageOutOfBounds(key: key, needed: .max, available: ref.storage.numel)
            }
            last = sum
        }
        guard last < ref.storage.numel else {
            throw CheckpointError.storageOutOfBounds(key: key, needed: last + 1, available: ref.storage.numel)
        }
        return count
    }

    static func isContiguous(_ ref: TorchTensorRef) -> Bool {
        var expected = 1
        for d in stride(from: ref.size.count - 1, through: 0, by: -1) {
            if ref.size[d] != 1 && ref.stride[d] != expected { return false }
            expected *= ref.size[d]
        }
        return true
    }

    /// Gathers a validated view out of the raw storage bytes into a contiguous Float32 tensor.
    static func materialise(_ ref: TorchTensorRef, storage: UnsafeRawPointer) -> Tensor {
        let dtype = ref.storage.dtype
        let item = dtype.itemSize
        var t = Tensor(uninitializedShape: ref.size)
        let count = t.count
        if count == 0 { return t }
        t.withUnsafeMutableBufferPointer { buf in
            let dst = buf.baseAddress!
            if isContiguous(ref) {
                dtype.convert(storage + ref.offset * item, count: count, to: dst)
                return
            }
            let rank = ref.size.count
            let inner = ref.size[rank - 1], innerStride = ref.stride[rank - 1]
            let rows = count / inner
            var index = [Int](repeating: 0, count: max(rank - 1, 0))  // odometer over outer dims
            var base = ref.offset
            var out = 0
            for _ in 0..<rows {
                if innerStride == 1 {
                    dtype.convert(storage + base * item, count: inner, to: dst + out)
                } else {
                    var s = base
                    for j in 0..<inner {
                        dst[out + j] = dtype.element(storage, at: s)
                        s += innerStride
                    }
                }
                out += inner
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    base += ref.stride[d]
                    if index[d] < ref.size[d] { break }
                    base -= ref.stride[d] * ref.size[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return t
    }
}

/// Bounded reads of zip records.
struct EntryReader {
    let archive: Archive
    let path: String
    let fileSize: Int

    /// The uncompressed size of a record, refusing sizes the file cannot hold.
    func checkedSize(_ entry: Entry, name: String) throws -> Int {
        let size = entry.uncompressedSize
        if entry.isCompressed {
            // torch writes stored records; a re-compressed archive barely shrinks float data.
            // Refuse claims beyond 4× the file so allocations stay bounded by the input.
            guard size <= UInt64(fileSize) &* 4 &+ (1 << 20), entry.compressedSize <= UInt64(fileSize) else {
                throw CheckpointError.tooLarge("record '\(name)' claims \(size) bytes")
            }
        } else {
            guard size <= UInt64(fileSize) else { throw CheckpointError.truncated(path) }
        }
        return Int(size)
    }

    /// Copies exactly `count` bytes of a record into `dest`.
    func read(_ entry: Entry, name: String, into dest: UnsafeMutableRawPointer, count: Int) throws {
        var received = 0
        do {
            _ = try archive.extract(entry, bufferSize: 1 << 22, skipCRC32: true) { data in
                guard data.count <= count - received else {
                    throw CheckpointError.storageSizeMismatch(key: name, expectedBytes: count, actualBytes: received + data.count)
                }
                data.withUnsafeBytes { src in
                    if let b = src.baseAddress, src.count > 0 { (dest + received).copyMemory(from: b, byteCount: src.count) }
                }
                received += data.count
            }
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw CheckpointError.unreadable(path, reason: "record '\(name)': \(error)")
        }
        guard received == count else { throw CheckpointError.truncated(path) }
    }
}

/// File-kind sniffing shared by the readers.
enum FileProbe {
    enum Kind { case zip, legacyTorch, safetensors, unknown }

    static func size(of url: URL) throws -> Int {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
            throw CheckpointError.notFound(url.path)
        }
        do {
            let attrs = try FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path)   // a symlinked checkpoint: the target's size
            return (attrs[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw CheckpointError.unreadable(url.path, reason: "\(error)")
        }
    }

    static func prefix(of url: URL, count: Int) throws -> [UInt8] {
        do {
            let h = try FileHandle(forReadingFrom: url)
            defer { try? h.close() }
            return [UInt8](try h.read(upToCount: count) ?? Data())
        } catch {
            throw CheckpointError.unreadable(url.path, reason: "\(error)")
        }
    }

    static func kind(_ head: [UInt8]) -> Kind {
        if head.count >= 4, head[0] == 0x50, head[1] == 0x4B, (head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6) {
            return .zip
        }
        // A safetensors header length can start with 0x80 0x0N (e.g. 896 bytes), which looks like a
        // pickle PROTO opcode: the JSON brace at byte 8 decides first.
        if head.count >= 9, head[8] == UInt8(ascii: "{") { return .safetensors }
        if head.count >= 2, head[0] == 0x80, head[1] <= 5 { return .legacyTorch }  // bare pickle stream
        if head.count >= 262, Array(head[257..<262]) == Array("ustar".utf8) { return .legacyTorch }  // tar (torch < 0.4)
        // safetensors: u64 LE header length, then JSON starting with '{'. A length below 2^40
        // (three zero high bytes) also counts, so malformed headers get a header error.
        if head.count >= 9, head[8] == UInt8(ascii: "{") || (head[5] == 0 && head[6] == 0 && head[7] == 0) {
            return .safetensors
        }
        return .unknown
    }
}
