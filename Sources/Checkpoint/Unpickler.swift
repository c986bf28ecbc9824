import Foundation

// A restricted pickle virtual machine for `torch.save` state dicts.
//
// Safety design (pickle files are untrusted):
// - Only an allowlist of globals is accepted (see `Unpickler.isAllowed`); they are never
//   looked up or executed, REDUCE/NEWOBJ on them is interpreted by hand.
// - Objects live in a flat arena (`objects`), containers refer to children by index.
//   There is no recursion anywhere (building, reading or freeing), so nesting depth and
//   reference cycles cannot blow the stack; memo references share objects like Python.
// - Every length is checked against the bytes that remain before anything is allocated,
//   and each opcode creates at most one object, so memory is bounded by the input size.

/// A storage reference from a persistent id `("storage", torch.XStorage, key, location, numel)`.
struct TorchStorageRef: Sendable, Equatable {
    var dtype: CheckpointDType
    var key: String
    var numel: Int
}

/// A tensor from `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`.
struct TorchTensorRef: Sendable, Equatable {
    var storage: TorchStorageRef
    var offset: Int
    var size: [Int]
    var stride: [Int]
}

/// One value in the unpickler's object arena.
enum PickleObject: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([Int])
    case list([Int])
    /// Insertion-ordered (key, value) pairs; later duplicates win when read.
    case dict([Pair])
    /// A class or function reference that passed the allowlist (never executed).
    case global(module: String, name: String)
    case storage(TorchStorageRef)
    case tensor(TorchTensorRef)

    struct Pair: Sendable { var key: Int; var value: Int }

    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let m, let n): return "\(m).\(n)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// The result of unpickling: an arena of objects and the index of the root object.
struct PickleGraph: Sendable {
    var objects: [PickleObject]
    var root: Int

    subscript(_ id: Int) -> PickleObject { objects[id] }

    /// The string value of a `str` object, else nil.
    func string(_ id: Int) -> String? {
        if case .string(let s) = objects[id] { return s }
        return nil
    }

    /// Dict entries with Python semantics for duplicate string keys (first position, last value).
    /// Non-string keys are skipped.
    func stringKeyedEntries(_ id: Int) -> [(key: String, value: Int)]? {
        guard case .dict(let pairs) = objects[id] else { return nil }
        var order: [String] = []
        var values: [String: Int] = [:]
        for p in pairs {
            guard let k = string(p.key) else { continue }
            if values.updateValue(p.value, forKey: k) == nil { order.append(k) }
        }
        return order.map { ($0, values[$0]!) }
    }
}

/// Restricted pickle interpreter (protocols 2–5, the opcodes `torch.save` emits plus a few more).
struct Unpickler {
    private let bytes: [UInt8]
    private var pos = 0
    private var opStart = 0
    private var objects: [PickleObject] = []
    private var stack: [Int] = []
    private var marks: [Int] = []
    private var memo: [UInt32: Int] = [:]

    /// Maximum tensor rank accepted.
    static let maxRank = 64

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Whether a global may be referenced by a state-dict pickle.
    static func isAllowed(module: String, name: String) -> Bool {
        switch module {
        case "collections": return name == "OrderedDict"
        case "torch._utils":
            return ["_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"].contains(name)
        case "torch":
            if name == "Size" { return true }
            if CheckpointDType(torchDTypeName: name) != nil { return true }
            // Storage classes are only used as tags inside persistent ids; any `XxxStorage`
            // name is accepted here and checked (or rejected as unsupported) when resolved.
            return name.hasSuffix("Storage") && name.utf8.count <= 40
                && name.unicodeScalars.allSatisfy { ($0.value < 128) && CharacterSet.alphanumerics.contains($0) }
        case "_codecs": return name == "encode"
        case "builtins", "__builtin__": return name == "set" || name == "frozenset"
        default: return false
        }
    }

    /// Runs the program to STOP.
    static func load(_ bytes: [UInt8]) throws -> PickleGraph {
        var u = Unpickler(bytes: bytes)
        let root = try u.run()
        return PickleGraph(objects: u.objects, root: root)
    }

    // MARK: - Errors and reading

    private func fail(_ reason: String) -> CheckpointError {
        .malformedPickle(reason: reason, offset: opStart)
    }

    private mutating func take(_ n: Int) throws -> Range<Int> {
        guard n >= 0, n <= bytes.count - pos else {
            throw fail("length \(n) runs past the end of the pickle (\(bytes.count - pos) bytes left)")
        }
        defer { pos += n }
        return pos..<(pos + n)
    }

    private mutating func u8() throws -> UInt8 { bytes[try take(1).lowerBound] }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        let r = try take(n)
        var v: UInt64 = 0
        for (i, b) in bytes[r].enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    private mutating func length(_ n: Int) throws -> Int {
        let v = try uint(n)
        guard v <= UInt64(bytes.count - pos) else {
            throw fail("length \(v) runs past the end of the pickle (\(bytes.count - pos) bytes left)")
        }
        return Int(v)
    }

    private mutating func utf8(_ n: Int) throws -> String {
        let r = try take(n)
        guard let s = String(bytes: bytes[r], encoding: .utf8) else { throw fail("invalid UTF-8 in string") }
        return s
    }

    private mutating func latin1(_ n: Int) throws -> String {
        let r = try take(n)
        return String(String.UnicodeScalarView(bytes[r].map { UnicodeScalar($0) }))
    }

    private mutating func line() throws -> String {
        guard let nl = bytes[pos...].firstIndex(of: 0x0A) else { throw fail("unterminated GLOBAL line") }
        let s = try utf8(nl - pos)
        pos += 1
        return s
    }

    // MARK: - Stack

    private mutating func push(_ o: PickleObject) {
        objects.append(o)
        stack.append(objects.count - 1)
    }

    private var floor: Int { marks.last ?? 0 }

    private mutating func pop() throws -> Int {
        guard stack.count > floor else { throw fail("stack underflow") }
        return stack.removeLast()
    }

    private func top() throws -> Int {
        guard stack.count > floor else { throw fail("stack underflow") }
        return stack[stack.count - 1]
    }

    private mutating func popMark() throws -> [Int] {
        guard let m = marks.popLast() else { throw fail("no MARK on the stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func memoPut(_ index: UInt32) throws {
        memo[index] = try top()
    }

    private mutating func memoGet(_ index: UInt32) throws {
        guard let id = memo[index] else { throw fail("memo key \(index) not found") }
        stack.append(id)
    }

    // MARK: - Container mutation (in place)

    private mutating func appendItems(_ items: [Int], to id: Int, op: String) throws {
        guard case .list(var list) = objects[id] else {
            throw fail("\(op) on a \(objects[id].typeName), expected a list or set")
        }
        objects[id] = .none  // drop the enum's reference so `list` is uniquely owned
        list.append(contentsOf: items)
        objects[id] = .list(list)
    }

    private mutating func setItems(_ items: [Int], in id: Int, op: String) throws {
        guard items.count % 2 == 0 else { throw fail("\(op) with an odd number of items") }
        guard case .dict(var pairs) = objects[id] else {
            throw fail("\(op) on a \(objects[id].typeName), expected a dict")
        }
        objects[id] = .none
        var i = 0
        while i < items.count {
            pairs.append(.init(key: items[i], value: items[i + 1]))
            i += 2
        }
        objects[id] = .dict(pairs)
    }

    // MARK: - Interpreter

    private mutating func run() throws -> Int {
        while true {
            opStart = pos
            guard pos < bytes.count else { throw fail("pickle ends without STOP") }
            let op = bytes[pos]
            pos += 1
            switch op {
            case 0x80:  // PROTO
                let p = try u8()
                guard p >= 2 && p <= 5 else { throw fail("unsupported pickle protocol \(p)") }
            case 0x95:  // FRAME
                _ = try length(8)
            case 0x2E:  // STOP '.'
                return try pop()

            // Constants
            case 0x4E: push(.none)  // NONE 'N'
            case 0x88: push(.bool(true))  // NEWTRUE
            case 0x89: push(.bool(false))  // NEWFALSE
            case 0x4A: push(.int(Int(Int32(bitPattern: UInt32(try uint(4))))))  // BININT 'J'
            case 0x4B: push(.int(Int(try u8())))  // BININT1 'K'
            case 0x4D: push(.int(Int(try uint(2))))  // BININT2 'M'
            case 0x8A:  // LONG1
                let n = try length(1)
                push(.int(try longValue(n)))
            case 0x8B:  // LONG4
                let raw = Int32(bitPattern: UInt32(try uint(4)))
                guard raw >= 0, Int(raw) <= bytes.count - pos else { throw fail("bad LONG4 length \(raw)") }
                push(.int(try longValue(Int(raw))))
            case 0x47:  // BINFLOAT 'G' (big-endian)
                let r = try take(8)
                var v: UInt64 = 0
                for b in bytes[r] { v = v << 8 | UInt64(b) }
                push(.float(Double(bitPattern: v)))

            // Strings and bytes
            case 0x8C: push(.string(try utf8(try length(1))))  // SHORT_BINUNICODE
            case 0x58: push(.string(try utf8(try length(4))))  // BINUNICODE 'X'
            case 0x8D: push(.string(try utf8(try length(8))))  // BINUNICODE8
            case 0x55: push(.string(try latin1(try length(1))))  // SHORT_BINSTRING 'U'
            case 0x54:  // BINSTRING 'T' (signed length)
                let raw = Int32(bitPattern: UInt32(try uint(4)))
                guard raw >= 0 else { throw fail("negative BINSTRING length") }
                guard Int(raw) <= bytes.count - pos else { throw fail("BINSTRING length \(raw) runs past the end") }
                push(.string(try latin1(Int(raw))))
            case 0x43: push(.bytes(Array(bytes[try take(try length(1))])))  // SHORT_BINBYTES 'C'
            case 0x42: push(.bytes(Array(bytes[try take(try length(4))])))  // BINBYTES 'B'
            case 0x8E: push(.bytes(Array(bytes[try take(try length(8))])))  // BINBYTES8

            // Memo
            case 0x71: try memoPut(UInt32(try u8()))  // BINPUT 'q'
            case 0x72: try memoPut(UInt32(try uint(4)))  // LONG_BINPUT 'r'
            case 0x94: try memoPut(UInt32(truncatingIfNeeded: memo.count))  // MEMOIZE
            case 0x68: try memoGet(UInt32(try u8()))  // BINGET 'h'
            case 0x6A: try memoGet(UInt32(try uint(4)))  // LONG_BINGET 'j'

            // Tuples, lists, dicts, sets
            case 0x28: marks.append(stack.count)  // MARK '('
            case 0x29: push(.tuple([]))  // EMPTY_TUPLE ')'
            case 0x74: push(.tuple(try popMark()))  // TUPLE 't'
            case 0x85: push(.tuple([try pop()]))  // TUPLE1
            case 0x86:  // TUPLE2
                let b = try pop(), a = try pop()
                push(.tuple([a, b]))
            case 0x87:  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                push(.tuple([a, b, c]))
            case 0x5D, 0x8F: push(.list([]))  // EMPTY_LIST ']', EMPTY_SET
            case 0x6C: push(.list(try popMark()))  // LIST 'l'
            case 0x91: push(.list(try popMark()))  // FROZENSET
            case 0x61:  // APPEND 'a'
                let v = try pop()
                try appendItems([v], to: try top(), op: "APPEND")
            case 0x65, 0x90:  // APPENDS 'e', ADDITEMS
                let items = try popMark()
                try appendItems(items, to: try top(), op: op == 0x65 ? "APPENDS" : "ADDITEMS")
            case 0x7D: push(.dict([]))  // EMPTY_DICT '}'
            case 0x64:  // DICT 'd'
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("DICT with an odd number of items") }
                push(.dict(stride(from: 0, to: items.count, by: 2).map { .init(key: items[$0], value: items[$0 + 1]) }))
            case 0x73:  // SETITEM 's'
                let v = try pop(), k = try pop()
                try setItems([k, v], in: try top(), op: "SETITEM")
            case 0x75:  // SETITEMS 'u'
                let items = try popMark()
                try setItems(items, in: try top(), op: "SETITEMS")

            // Globals and calls
            case 0x63:  // GLOBAL 'c'
                let module = try line()
                let name = try line()
                try pushGlobal(module: module, name: name)
            case 0x93:  // STACK_GLOBAL
                let n = try pop(), m = try pop()
                guard case .string(let name) = objects[n], case .string(let module) = objects[m] else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try pushGlobal(module: module, name: name)
            case 0x52:  // REDUCE 'R'
                let args = try pop()
                let callable = try pop()
                objects.append(try reduce(callable, args))
                stack.append(objects.count - 1)
            case 0x81:  // NEWOBJ
                let args = try pop()
                let cls = try pop()
                guard case .global(let m, let n) = objects[cls] else {
                    throw fail("NEWOBJ on a \(objects[cls].typeName)")
                }
                switch (m, n) {
                case ("collections", "OrderedDict"): push(.dict([]))
                case ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"),
                    ("__builtin__", "frozenset"):
                    push(.list([]))
                default: throw fail("NEWOBJ of \(m).\(n) is not supported")
                }
                _ = args
            case 0x62:  // BUILD 'b'
                // Object state (e.g. an OrderedDict's `_metadata` attribute or a parameter's
                // Python attributes) carries no tensor data: drop it.
                _ = try pop()
                _ = try top()
            case 0x51:  // BINPERSID 'Q'
                let pid = try pop()
                objects.append(try persistentLoad(pid))
                stack.append(objects.count - 1)
            default:
                throw CheckpointError.unknownOpcode(opcode: op, offset: opStart)
            }
        }
    }

    private mutating func longValue(_ n: Int) throws -> Int {
        guard n <= 8 else { throw fail("integer of \(n) bytes does not fit in 64 bits") }
        let r = try take(n)
        guard n > 0 else { return 0 }
        var v: UInt64 = 0
        for (i, b) in bytes[r].enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        if n < 8, bytes[r.upperBound - 1] & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }  // sign-extend
        return Int(Int64(bitPattern: v))
    }

    private mutating func pushGlobal(module: String, name: String) throws {
        guard Unpickler.isAllowed(module: module, name: name) else {
            throw CheckpointError.forbiddenGlobal(module: module, name: name)
        }
        push(.global(module: module, name: name))
    }

    // MARK: - Calls (interpreted, never executed)

    private func tupleItems(_ id: Int) -> [Int]? {
        if case .tuple(let t) = objects[id] { return t }
        return nil
    }

    private func intValue(_ id: Int) -> Int? {
        switch objects[id] {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    private func intTuple(_ id: Int, what: String) throws -> [Int] {
        let items: [Int]
        switch objects[id] {
        case .tuple(let t), .list(let t): items = t
        default: throw fail("tensor \(what) is a \(objects[id].typeName), expected a tuple")
        }
        guard items.count <= Unpickler.maxRank else { throw fail("tensor \(what) has rank \(items.count)") }
        return try items.map {
            guard let v = intValue($0) else { throw fail("tensor \(what) holds a \(objects[$0].typeName)") }
            return v
        }
    }

    private func reduce(_ callable: Int, _ argsID: Int) throws -> PickleObject {
        guard case .global(let module, let name) = objects[callable] else {
            throw fail("REDUCE on a \(objects[callable].typeName)")
        }
        guard let args = tupleItems(argsID) else {
            throw fail("REDUCE arguments are a \(objects[argsID].typeName), expected a tuple")
        }
        switch (module, name) {
        case ("collections", "OrderedDict"):
            if args.isEmpty { return .dict([]) }
            throw fail("OrderedDict(...) with arguments is not supported")
        case ("torch._utils", "_rebuild_tensor_v2"):
            guard args.count >= 4 && args.count <= 7 else {
                throw fail("_rebuild_tensor_v2 takes 4–7 arguments, got \(args.count)")
            }
            guard case .storage(let storage) = objects[args[0]] else {
                throw fail("_rebuild_tensor_v2 storage argument is a \(objects[args[0]].typeName)")
            }
            guard let offset = intValue(args[1]) else { throw fail("tensor storage offset is not an int") }
            let size = try intTuple(args[2], what: "size")
            let stride = try intTuple(args[3], what: "stride")
            guard size.count == stride.count else {
                throw fail("tensor size \(size) and stride \(stride) differ in rank")
            }
            return .tensor(TorchTensorRef(storage: storage, offset: offset, size: size, stride: stride))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            guard args.count >= 1, case .tensor(let t) = objects[args[0]] else {
                throw fail("\(name) needs a tensor as first argument")
            }
            return .tensor(t)
        case ("torch", "Size"):
            guard args.count == 1 else { throw fail("torch.Size takes one argument") }
            _ = try intTuple(args[0], what: "torch.Size")
            switch objects[args[0]] {
            case .tuple(let t), .list(let t): return .tuple(t)
            default: throw fail("torch.Size of a \(objects[args[0]].typeName)")
            }
        case ("_codecs", "encode"):
            guard args.count >= 1, case .string(let s) = objects[args[0]] else {
                throw fail("_codecs.encode needs a string")
            }
            let encoding = args.count > 1 ? (objects[args[1]].stringValue ?? "utf-8") : "utf-8"
            switch encoding.lowercased() {
            case "latin1", "latin-1", "iso-8859-1":
                var out: [UInt8] = []
                out.reserveCapacity(s.unicodeScalars.count)
                for u in s.unicodeScalars {
                    guard u.value < 256 else { throw fail("_codecs.encode: character outside latin-1") }
                    out.append(UInt8(u.value))
                }
                return .bytes(out)
            case "utf-8", "utf8": return .bytes(Array(s.utf8))
            default: throw fail("_codecs.encode with encoding '\(encoding)' is not supported")
            }
        case ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset"):
            if args.isEmpty { return .list([]) }
            switch objects[args[0]] {
            case .list(let l), .tuple(let l): return .list(l)
            default: throw fail("\(name)() of a \(objects[args[0]].typeName) is not supported")
            }
        default:
            throw fail("calling \(module).\(name) is not supported")
        }
    }

    // MARK: - Persistent ids

    private func persistentLoad(_ pid: Int) throws -> PickleObject {
        guard let t = tupleItems(pid), t.count == 5, objects[t[0]].stringValue == "storage" else {
            throw fail("persistent id is not a ('storage', type, key, location, numel) tuple")
        }
        guard case .global(let module, let typeName) = objects[t[1]], module == "torch" else {
            throw fail("persistent id storage type is a \(objects[t[1]].typeName)")
        }
        guard let dtype = CheckpointDType(torchStorageName: typeName) else {
            throw CheckpointError.unsupportedStorage("torch.\(typeName)")
        }
        guard let key = objects[t[2]].stringValue else { throw fail("persistent id key is not a string") }
        guard key.utf8.count <= 256 else { throw fail("persistent id key is too long") }
        guard let numel = intValue(t[4]), numel >= 0 else { throw fail("persistent id numel is not a non-negative int") }
        return .storage(TorchStorageRef(dtype: dtype, key: key, numel: numel))
    }
}

extension PickleObject {
    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
