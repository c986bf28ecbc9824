@testable import Tensor
import XCTest

extension XCTestCase {
    /// The kernel variants this machine runs, each checked to run as itself; prints the ones it cannot (they are
    /// not tested here) under `tag`, and checks that they fall back.
    func runnableVariants(tag: String, file: StaticString = #filePath, line: UInt = #line) -> [KernelVariant] {
        var out: [KernelVariant] = []
        for v in KernelVariant.allCases {
            if v.isSupported {
                XCTAssertEqual(Kernels.resolved(v), v, "a supported variant must run as itself", file: file, line: line)
                out.append(v)
            } else {
                print("[\(tag)] NOT TESTED: variant \(v) — this CPU lacks its instructions "
                      + "(run the tests on a machine that has them)")
                XCTAssertNotEqual(Kernels.resolved(v), v, "an unsupported variant must fall back", file: file, line: line)
            }
        }
        print("[\(tag)] variants tested: \(out.map(\.description).joined(separator: ", ")); best: \(KernelVariant.best)")
        return out
    }
}
