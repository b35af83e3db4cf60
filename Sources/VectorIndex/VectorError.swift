/// A refusal or failure of the vector engine, saying what was wrong and how to fix it.
///
/// `field` names the input at fault (`records[3].vector`, `where.$and[0].price`)
/// so that an HTTP API can answer 400 with it.
public struct VectorError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, Codable {
        case invalidInput = "invalid_input"
        case notFound = "not_found"
        case conflict
        case storage
    }

    public var code: Code
    public var field: String?
    public var message: String

    public init(_ code: Code, field: String? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public static func invalidField(_ field: String, _ message: String) -> VectorError {
        VectorError(.invalidInput, field: field, message)
    }

    public static func collectionNotFound(_ name: String, known: [String]) -> VectorError {
        let remedy = known.isEmpty
            ? "no collection exists yet; create one first (a vector_collection resource, or the engine API)"
            : "known collections: \(known.sorted().joined(separator: ", "))"
        return VectorError(.notFound, field: "collection", "collection '\(name)' does not exist; \(remedy)")
    }

    public var description: String {
        if let field { return "\(field): \(message)" }
        return message
    }
}
