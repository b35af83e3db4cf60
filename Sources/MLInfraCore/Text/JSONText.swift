/// JSON text for values: canonical (sorted keys) and fast, for plan files, JSON views and tools.
public enum JSONText {
    /// `value` as JSON: two-space indented when `pretty`, else on one line.
    public static func encode(_ value: Value, pretty: Bool = true) -> String {
        var writer = CanonicalJSONWriter(pretty: pretty)
        writer.value(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Parses JSON text into a value.
    public static func decode(_ bytes: [UInt8]) throws -> Value {
        do {
            return try JSONCursor.parse(bytes)
        } catch let failure as JSONCursor.Failure {
            throw JSONTextError(message: failure.message, offset: failure.offset)
        }
    }
}

public struct JSONTextError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var offset: Int
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}
