import Foundation

/// A user-facing error of the `medsam` tool: one line naming the problem.
public struct ToolError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
