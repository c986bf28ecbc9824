import Checkpoint
import Foundation
import NN
import Tensor
import XCTest

/// One golden fixture exported from the reference PyTorch code (`Fixtures/export`).
///
/// Tensors are named `param.<state-dict key>`, `input.<name>`, `output.<name>`; the safetensors
/// metadata carries `module`, `config` (JSON), `tolerance`, `weights` and per-output extras.
public struct Golden {
    public let name: String
    public let file: StateDict
    public let config: [String: Any]
    public let tolerance: Float
    public let metadata: [String: String]

    /// Loads `Fixtures/<relativePath>.safetensors`.
    public init(_ relativePath: String) throws {
        name = relativePath
        file = try StateDict(contentsOf: fixtureURL(relativePath + ".safetensors"))
        metadata = file.metadata
        let json = metadata["config"] ?? "{}"
        config = (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
        tolerance = Float(metadata["tolerance"] ?? "1e-4") ?? 1e-4
    }

    /// The module's weights: stored `param.*` tensors, or the deterministic generator.
    public var weights: WeightLoader {
        if metadata["weights"] == "generated" { return WeightLoader(DeterministicWeights()) }
        let params = file.filtered(prefix: "param.").strippingPrefix("param.")
        return WeightLoader(params)
    }

    /// Scope of the module inside ``weights`` (the generator's key prefix, without the trailing dot).
    public var scope: WeightScope {
        var prefix = metadata["weights_prefix"] ?? ""
        if prefix.hasSuffix(".") { prefix.removeLast() }
        return weights.scope(prefix)
    }

    public func input(_ name: String) throws -> Tensor {
        if let t = file["input." + name] { return t }
        // Generated inputs: `generated_inputs` = {"name": shape}.
        if let json = metadata["generated_inputs"],
           let shapes = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [Int]],
           let shape = shapes[name] {
            return DeterministicWeights.input(name, shape: shape)
        }
        throw WeightError.missingKey("input." + name)
    }

    public func output(_ name: String) throws -> Tensor {
        guard let t = file["output." + name] else { throw WeightError.missingKey("output." + name) }
        return t
    }

    public func int(_ key: String) -> Int { (config[key] as? NSNumber)?.intValue ?? -1 }
    public func ints(_ key: String) -> [Int] { (config[key] as? [NSNumber])?.map(\.intValue) ?? [] }
    public func double(_ key: String) -> Double { (config[key] as? NSNumber)?.doubleValue ?? .nan }
    public func bool(_ key: String) -> Bool { (config[key] as? NSNumber)?.boolValue ?? false }

    /// Compares `actual` with `output.<name>` (or its subsample `output.<name>_sampled` taken every
    /// `sample_stride.<name>` elements): max |a − e| ≤ tolerance · max(1, max |e|).
    public func check(_ actual: Tensor, against name: String, tolerance tol: Float? = nil,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let t = tol ?? tolerance
        if let expected = self.file["output." + name] {
            assertClose(actual, expected, tolerance: t, label: "\(self.name):\(name)", file: file, line: line)
        } else if let sampled = self.file["output." + name + "_sampled"], let stride = Int(metadata["sample_stride." + name] ?? "") {
            if let shapeJSON = metadata["shape." + name],
               let shape = try JSONSerialization.jsonObject(with: Data(shapeJSON.utf8)) as? [Int] {
                XCTAssertEqual(actual.shape, shape, "\(self.name):\(name) shape", file: file, line: line)
            }
            let a = actual.scalars
            let picked = Swift.stride(from: 0, to: a.count, by: stride).map { a[$0] }
            XCTAssertEqual(picked.count, sampled.count, "\(self.name):\(name) sample count", file: file, line: line)
            assertClose(Tensor(shape: [picked.count], scalars: picked), sampled, tolerance: t,
                        label: "\(self.name):\(name) (every \(stride)th)", file: file, line: line)
            if let sum = Double(metadata["sum." + name] ?? "") {
                let scale = Double(metadata["abssum." + name] ?? "1") ?? 1
                XCTAssertEqual(actual.sum, sum, accuracy: max(1, scale) * Double(t), "\(self.name):\(name) sum",
                               file: file, line: line)
            }
        } else {
            throw WeightError.missingKey("output." + name)
        }
    }
}

/// max |a − e| ≤ tolerance · max(1, max |e|), shapes equal (element counts equal if `shape` differs by a reshape).
public func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, label: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(label): element count \(actual.shape) vs \(expected.shape)",
                   file: file, line: line)
    guard actual.count == expected.count else { return }
    let bound = tolerance * max(1, expected.maxAbs)
    var worst: Float = 0
    var worstIndex = 0
    actual.withUnsafeBufferPointer { a in
        expected.withUnsafeBufferPointer { e in
            for i in 0..<a.count {
                let d = abs(a[i] - e[i])
                if !(d <= worst) { worst = d; worstIndex = i }   // NaN counts as worst
            }
        }
    }
    XCTAssertTrue(worst <= bound,
                  "\(label): max |Δ| = \(worst) at \(worstIndex) (swift \(actual.scalars[worstIndex]), torch \(expected.scalars[worstIndex])) > \(bound)",
                  file: file, line: line)
}
