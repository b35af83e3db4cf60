import Foundation
import MLInfraJSON

extension JSONValue {
    /// Parses JSON text; the error names `field` and shows the start of the text.
    public static func parse(_ text: String, field: String) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw VectorError.invalidField(field, "is not valid JSON: \(text.prefix(80))")
        }
    }
}
