/// A place in a spec file: 1-based line and column.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found while reading, validating, planning or applying.
///
/// Diagnostics are collected, not thrown: validation reports every problem it
/// finds in one pass. `summary` is one line; `detail` says how to fix it.
public struct Diagnostic: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Hashable, Sendable, Codable {
        case error
        case warning
    }

    public var severity: Severity
    public var summary: String
    public var detail: String
    public var location: SourceLocation?
    /// The resource address the problem concerns, when there is one.
    public var address: String?

    public init(
        _ severity: Severity,
        _ summary: String,
        detail: String = "",
        location: SourceLocation? = nil,
        address: String? = nil
    ) {
        self.severity = severity
        self.summary = summary
        self.detail = detail
        self.location = location
        self.address = address
    }

    public static func error(
        _ summary: String, detail: String = "", at location: SourceLocation? = nil, address: String? = nil
    ) -> Diagnostic {
        Diagnostic(.error, summary, detail: detail, location: location, address: address)
    }

    public static func warning(
        _ summary: String, detail: String = "", at location: SourceLocation? = nil, address: String? = nil
    ) -> Diagnostic {
        Diagnostic(.warning, summary, detail: detail, location: location, address: address)
    }

    public var description: String {
        var text = "\(severity.rawValue): "
        if let location { text += "\(location): " }
        if let address, !summary.contains(address) { text += "\(address): " }
        text += summary
        if !detail.isEmpty { text += "\n  \(detail.replacingOccurrences(of: "\n", with: "\n  "))" }
        return text
    }
}

/// An ordered collection of diagnostics.
public struct Diagnostics: Sendable, Hashable, Codable, Sequence {
    public private(set) var items: [Diagnostic] = []

    public init(_ items: [Diagnostic] = []) { self.items = items }

    public var hasErrors: Bool { items.contains { $0.severity == .error } }
    public var errors: [Diagnostic] { items.filter { $0.severity == .error } }
    public var isEmpty: Bool { items.isEmpty }
    public var count: Int { items.count }

    public mutating func append(_ diagnostic: Diagnostic) { items.append(diagnostic) }
    public mutating func append(contentsOf other: some Sequence<Diagnostic>) { items.append(contentsOf: other) }

    public func makeIterator() -> IndexingIterator<[Diagnostic]> { items.makeIterator() }
}

/// Thrown when a step cannot go on because its input had errors.
public struct DiagnosticsError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: Diagnostics
    public init(_ diagnostics: Diagnostics) { self.diagnostics = diagnostics }
    public init(_ diagnostic: Diagnostic) { self.diagnostics = Diagnostics([diagnostic]) }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
