import Foundation
import MedicalIO
import TestSupport
import XCTest

func io(_ path: String) -> URL { fixtureURL("io/" + path) }

/// Reference arrays written by `Fixtures/io/make_fixtures.py` (`.npz` with key `a`).
func expected(_ path: String) throws -> MedicalIO.NPYArray {
    try NPZArchive.read(io(path)).array("a")
}

func expectedJSON() throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: io("expected.json"))) as! [String: Any]
}

func tempURL(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("medicalio-\(UUID().uuidString)-\(name)")
}

/// Asserts `body` throws a `MedicalIOError` (any typed error is fine for the `Preprocess` image checks).
func assertTypedError<T>(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) {
    do { _ = try body(); XCTFail("\(what): no error", file: file, line: line) } catch is MedicalIOError {
    } catch { XCTFail("\(what): untyped error \(error)", file: file, line: line) }
}
