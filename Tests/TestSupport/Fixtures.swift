import Foundation

/// The repository root, found from this file's location (`Tests/TestSupport/Fixtures.swift`).
public let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `<repo>/Fixtures/<relative>`.
public func fixtureURL(_ relative: String) -> URL {
    repositoryRoot.appendingPathComponent("Fixtures").appendingPathComponent(relative)
}
