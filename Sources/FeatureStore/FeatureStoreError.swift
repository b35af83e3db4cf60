/// A feature-store failure with the context needed to fix it.
public enum FeatureStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Input data is malformed at a place in a file (1-based line and column number).
    case badData(file: String, line: Int, column: String, message: String)
    /// A file lacks a column it must have.
    case missingColumn(file: String, column: String, available: [String])
    case fileUnreadable(path: String, reason: String)
    /// A name that is not defined in the store.
    case unknownObject(kind: String, name: String, known: [String])
    /// A request is malformed; `field` names the part at fault.
    case badRequest(field: String, message: String)
    /// A definition is inconsistent.
    case invalidDefinition(object: String, message: String)
    case storage(message: String)

    public var description: String {
        switch self {
        case .badData(let file, let line, let column, let message):
            return "\(file):\(line): column '\(column)': \(message)"
        case .missingColumn(let file, let column, let available):
            return "\(file): no column '\(column)' in the header (columns: \(available.joined(separator: ", "))); "
                + "add the column or point the definition at the right one"
        case .fileUnreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .unknownObject(let kind, let name, let known):
            let list = known.isEmpty ? "none is defined" : "defined: \(known.joined(separator: ", "))"
            return "unknown \(kind) '\(name)' (\(list))"
        case .badRequest(let field, let message):
            return "\(field): \(message)"
        case .invalidDefinition(let object, let message):
            return "\(object): \(message)"
        case .storage(let message):
            return "feature store storage: \(message)"
        }
    }
}
