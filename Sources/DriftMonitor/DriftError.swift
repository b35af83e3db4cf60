/// A drift-monitoring failure: what went wrong and how to fix it. Never carries secrets.
public struct DriftError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable { case io, badData, badConfig, notFound, alert }
    public var code: Code
    public var message: String
    public var remedy: String

    public init(_ code: Code, _ message: String, remedy: String = "") {
        self.code = code
        self.message = message
        self.remedy = remedy
    }

    static func io(_ message: String, remedy: String) -> DriftError { DriftError(.io, message, remedy: remedy) }
    static func badData(_ message: String, remedy: String) -> DriftError { DriftError(.badData, message, remedy: remedy) }
    static func badConfig(_ message: String, remedy: String) -> DriftError { DriftError(.badConfig, message, remedy: remedy) }
    static func notFound(_ message: String, remedy: String) -> DriftError { DriftError(.notFound, message, remedy: remedy) }

    public var description: String { remedy.isEmpty ? message : "\(message)\n  \(remedy)" }
}
