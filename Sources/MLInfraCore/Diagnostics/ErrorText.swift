import Foundation

/// Errors in words a user can act on. mlinfra's own errors already say what failed and what to
/// do; errors from the standard library, Foundation and SwiftNIO say it in their own terms
/// (`DecodingError.typeMismatch(…)`, `bind(descriptor:ptr:bytes:): Address already in use
/// (errno: 98)`). Every place that shows an error it did not make passes it through here.
public enum ErrorText {
    /// The error as a sentence: ours unchanged, the others translated.
    public static func describe(_ error: any Error) -> String {
        if let decoding = error as? DecodingError { return describe(decoding) }
        if let encoding = error as? EncodingError {
            if case .invalidValue(_, let context) = encoding { return "a value could not be written: \(context.debugDescription)" }
            return "a value could not be written"
        }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        let type = String(reflecting: Swift.type(of: error))
        if type.hasPrefix("NIOCore.IOError") || type.hasPrefix("NIOPosix.") || type.hasPrefix("NIOCore.SocketAddressError") {
            return systemCall("\(error)")
        }
        if type == "Foundation.NSError" || type == "Foundation.CocoaError" || type.hasSuffix("._GenericObjCError")
            || (error as NSError).domain == NSCocoaErrorDomain || (error as NSError).domain == NSPOSIXErrorDomain
        {
            let ns = error as NSError
            var text = ns.localizedDescription
            if let path = ns.userInfo[NSFilePathErrorKey] as? String, !text.contains(path) { text += " (\(path))" }
            if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
                text += ": " + String(cString: strerror(Int32(underlying.code)))
            }
            return text
        }
        return "\(error)"
    }

    /// What to do after a provider call failed for a reason outside the spec (an engine's files or
    /// server, the disk): the operation's words, then where things stand.
    public static func afterFailedCall(_ error: any Error, applying: Bool) -> String {
        describe(error) + "\n"
            + (applying
                ? "Nothing was recorded for this resource; the operations that finished are kept in state. Fix the cause "
                    + "(the engine's directory or server, free disk space), then run `mlinfra apply` again."
                : "Nothing was changed. Fix the cause (the engine's directory or server, free disk space), then plan again.")
    }

    /// Whether `describe` would say it differently from the error's own description.
    public static func isForeign(_ error: any Error) -> Bool { describe(error) != "\(error)" }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the top level" : "`" + keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[") + "`"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "the data is not in the expected form: at \(path(context)), expected \(name(of: type))"
        case .valueNotFound(let type, let context):
            return "the data is not in the expected form: at \(path(context)), a \(name(of: type)) is missing"
        case .keyNotFound(let key, let context):
            return "the data is not in the expected form: at \(path(context)), `\(key.stringValue)` is missing"
        case .dataCorrupted(let context):
            return "the data is not valid: at \(path(context)), \(context.debugDescription.prefix(200))"
        @unknown default:
            return "the data is not in the expected form"
        }
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "text"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type: "whole number"
        case is Double.Type, is Float.Type: "number"
        case is Bool.Type: "true or false"
        default:
            String(describing: type).hasPrefix("Array") ? "list" : String(describing: type).hasPrefix("Dictionary") ? "mapping" : "value"
        }
    }

    /// `bind(descriptor:ptr:bytes:): Address already in use (errno: 98)` → `Address already in use`.
    static func systemCall(_ text: String) -> String {
        var text = text
        if let range = text.range(of: #"^[a-z_]+\([a-zA-Z:]*\): "#, options: .regularExpression) { text.removeSubrange(range) }
        if let range = text.range(of: #" \(errno: \d+\)$"#, options: .regularExpression) { text.removeSubrange(range) }
        return text
    }
}
