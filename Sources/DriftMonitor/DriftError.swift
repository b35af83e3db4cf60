/// A drift-monitoring failure: what went wrong and how to fix it. Never carries secrets.
public struct DriftError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable { case io, badData, badConfig, notFound, alert }
    public var code: Code
    public var message: String
    public var fix: String

    public init(_ code: Code, _ message: String, fix: String = "") {
        self.code = code
        self.message = message
        self.fix = fix
    }

    static func io(_ message: String, fix: String) -> DriftError { DriftError(.io, message, fix: fix) }
    static func badData(_ message: String, fix: String) -> DriftError { DriftError(.badData, message, fix: fix) }
    static func badConfig(_ message: String, fix: String) -> DriftError { DriftError(.badConfig, message, fix: fix) }
    static func notFound(_ message: String, fix: String) -> DriftError { DriftError(.notFound, message, fix: fix) }

    public var description: String { fix.isEmpty ? message : "\(message)\n  \(fix)" }
}
