import Foundation

/// A request or response struct as it travels over the plugin protocol: a JSON
/// object with snake_case keys (providers/README.md shows each one).
///
/// The conversion goes through `Value` rather than a key-converting
/// `JSONEncoder`, because attribute maps must keep their keys exactly as written
/// and an unknown value must keep its `{"$mlinfra_unknown": true}` marker.
protocol WireConvertible: Sendable {
    var wire: Value { get }
    init(fields: WireFields) throws(WireError)
}

extension WireConvertible {
    /// Decodes a wire object; `path` names it in errors (`prior.attributes`).
    init(wire: Value, path: String = "") throws(WireError) {
        try self.init(fields: try WireFields(wire, path: path))
    }
}

/// A message whose shape is not what the protocol says, naming the field.
public struct WireError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads the fields of one wire object, with errors that name the full path of the field.
struct WireFields {
    let entries: [String: Value]
    let path: String

    init(_ value: Value, path: String) throws(WireError) {
        guard case .map(let entries) = value else {
            throw WireError("`\(path.isEmpty ? "params" : path)` must be an object, got \(value.kindName)")
        }
        self.entries = entries
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func present(_ key: String) -> Value? {
        guard let value = entries[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws(WireError) -> String {
        guard let value = present(key) else { throw WireError("`\(name(key))` is missing") }
        guard let text = value.stringValue else { throw WireError("`\(name(key))` must be a string, got \(value.kindName)") }
        return text
    }

    func optionalString(_ key: String) throws(WireError) -> String? {
        guard present(key) != nil else { return nil }
        return try string(key)
    }

    func int(_ key: String) throws(WireError) -> Int {
        guard let value = present(key) else { throw WireError("`\(name(key))` is missing") }
        guard let number = value.intValue else { throw WireError("`\(name(key))` must be an integer, got \(value.kindName)") }
        return number
    }

    /// An attribute map; missing or null reads as empty.
    func attributes(_ key: String) throws(WireError) -> [String: Value] {
        guard let value = present(key) else { return [:] }
        guard case .map(let entries) = value else { throw WireError("`\(name(key))` must be an object, got \(value.kindName)") }
        return entries
    }

    func object<T: WireConvertible>(_ key: String, as type: T.Type = T.self) throws(WireError) -> T {
        guard let value = present(key) else { throw WireError("`\(name(key))` is missing") }
        return try T(wire: value, path: name(key))
    }

    func optionalObject<T: WireConvertible>(_ key: String, as type: T.Type = T.self) throws(WireError) -> T? {
        guard let value = present(key) else { return nil }
        return try T(wire: value, path: name(key))
    }

    /// A list of objects; missing or null reads as empty.
    func list<T: WireConvertible>(_ key: String, of type: T.Type = T.self) throws(WireError) -> [T] {
        guard let value = present(key) else { return [] }
        guard case .list(let items) = value else { throw WireError("`\(name(key))` must be a list, got \(value.kindName)") }
        var result: [T] = []
        for (index, item) in items.enumerated() {
            result.append(try T(wire: item, path: "\(name(key)).\(index)"))
        }
        return result
    }

    /// A list of strings; missing or null reads as empty.
    func strings(_ key: String) throws(WireError) -> [String] {
        guard let value = present(key) else { return [] }
        guard case .list(let items) = value else { throw WireError("`\(name(key))` must be a list, got \(value.kindName)") }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            guard let text = item.stringValue else {
                throw WireError("`\(name(key)).\(index)` must be a string, got \(item.kindName)")
            }
            result.append(text)
        }
        return result
    }
}

// MARK: - The contract structs on the wire

extension SourceLocation: WireConvertible {
    var wire: Value { ["file": .string(file), "line": .int(line), "column": .int(column)] }
    init(fields f: WireFields) throws(WireError) {
        self.init(file: try f.string("file"), line: try f.int("line"), column: try f.int("column"))
    }
}

extension Diagnostic: WireConvertible {
    var wire: Value { .map(wireEntries) }

    var wireEntries: [String: Value] {
        var entries: [String: Value] = ["severity": .string(severity.rawValue), "summary": .string(summary)]
        if !detail.isEmpty { entries["detail"] = .string(detail) }
        if let location { entries["location"] = location.wire }
        if let address { entries["address"] = .string(address) }
        return entries
    }

    init(fields f: WireFields) throws(WireError) {
        let severityText = try f.optionalString("severity") ?? "error"
        guard let severity = Severity(rawValue: severityText) else {
            throw WireError("`severity` must be \"error\" or \"warning\", got \"\(severityText)\"")
        }
        self.init(
            severity, try f.string("summary"), detail: try f.optionalString("detail") ?? "",
            location: try f.optionalObject("location"), address: try f.optionalString("address"))
    }
}

/// Flat on the wire: the diagnostic's fields plus `attribute`.
extension AttributeDiagnostic: WireConvertible {
    var wire: Value {
        var entries = diagnostic.wireEntries
        if let attribute { entries["attribute"] = .string(attribute) }
        return .map(entries)
    }

    init(fields f: WireFields) throws(WireError) {
        self.init(attribute: try f.optionalString("attribute"), try Diagnostic(fields: f))
    }
}

extension ResourceObject: WireConvertible {
    var wire: Value { ["id": .string(id), "attributes": .map(attributes)] }
    init(fields f: WireFields) throws(WireError) {
        self.init(id: try f.string("id"), attributes: try f.attributes("attributes"))
    }
}

extension ApplyContext: WireConvertible {
    var wire: Value {
        var entries: [String: Value] = ["actor": .string(actor)]
        if let planID { entries["plan_id"] = .string(planID) }
        if let reason { entries["reason"] = .string(reason) }
        if let creationKey { entries["creation_key"] = .string(creationKey) }
        return .map(entries)
    }
    init(fields f: WireFields) throws(WireError) {
        self.init(
            actor: try f.optionalString("actor") ?? "", planID: try f.optionalString("plan_id"), reason: try f.optionalString("reason"),
            creationKey: try f.optionalString("creation_key"))
    }
}

extension ConfigureRequest: WireConvertible {
    var wire: Value { ["config": .map(config), "working_directory": .string(workingDirectory)] }
    init(fields f: WireFields) throws(WireError) {
        self.init(config: try f.attributes("config"), workingDirectory: try f.string("working_directory"))
    }
}

extension ConfigureResponse: WireConvertible {
    var wire: Value { ["diagnostics": .list(diagnostics.map(\.wire))] }
    init(fields f: WireFields) throws(WireError) {
        self.init(diagnostics: try f.list("diagnostics"))
    }
}

extension ValidateRequest: WireConvertible {
    var wire: Value { ["type": .string(type), "address": .string(address), "config": .map(config)] }
    init(fields f: WireFields) throws(WireError) {
        self.init(type: try f.string("type"), address: try f.string("address"), config: try f.attributes("config"))
    }
}

extension ValidateResponse: WireConvertible {
    var wire: Value { ["diagnostics": .list(diagnostics.map(\.wire))] }
    init(fields f: WireFields) throws(WireError) {
        self.init(diagnostics: try f.list("diagnostics"))
    }
}

extension PlanRequest: WireConvertible {
    var wire: Value {
        ["type": .string(type), "address": .string(address), "prior": prior?.wire ?? .null, "proposed": .map(proposed)]
    }
    init(fields f: WireFields) throws(WireError) {
        self.init(
            type: try f.string("type"), address: try f.string("address"), prior: try f.optionalObject("prior"),
            proposed: try f.attributes("proposed"))
    }
}

extension PlanResponse: WireConvertible {
    var wire: Value {
        [
            "planned": .map(planned), "requires_replace": .list(requiresReplace.map { .string($0) }),
            "diagnostics": .list(diagnostics.map(\.wire)),
        ]
    }
    init(fields f: WireFields) throws(WireError) {
        self.init(planned: try f.attributes("planned"), requiresReplace: try f.strings("requires_replace"), diagnostics: try f.list("diagnostics"))
    }
}

extension ApplyRequest: WireConvertible {
    var wire: Value {
        [
            "type": .string(type), "address": .string(address), "action": .string(action.rawValue),
            "prior": prior?.wire ?? .null, "config": .map(config), "planned": .map(planned), "context": context.wire,
        ]
    }
    init(fields f: WireFields) throws(WireError) {
        let actionText = try f.string("action")
        guard let action = ApplyAction(rawValue: actionText) else {
            throw WireError("`action` must be \"create\", \"update\" or \"delete\", got \"\(actionText)\"")
        }
        self.init(
            type: try f.string("type"), address: try f.string("address"), action: action, prior: try f.optionalObject("prior"),
            config: try f.attributes("config"), planned: try f.attributes("planned"),
            context: try f.optionalObject("context") ?? ApplyContext(actor: ""))
    }
}

extension ApplyResponse: WireConvertible {
    var wire: Value { ["new": new?.wire ?? .null, "diagnostics": .list(diagnostics.map(\.wire))] }
    init(fields f: WireFields) throws(WireError) {
        self.init(new: try f.optionalObject("new"), diagnostics: try f.list("diagnostics"))
    }
}

extension ReadRequest: WireConvertible {
    var wire: Value { ["type": .string(type), "address": .string(address), "id": .string(id), "prior": prior.wire] }
    init(fields f: WireFields) throws(WireError) {
        self.init(type: try f.string("type"), address: try f.string("address"), id: try f.string("id"), prior: try f.object("prior"))
    }
}

extension ReadResponse: WireConvertible {
    var wire: Value { ["current": current?.wire ?? .null, "diagnostics": .list(diagnostics.map(\.wire))] }
    init(fields f: WireFields) throws(WireError) {
        self.init(current: try f.optionalObject("current"), diagnostics: try f.list("diagnostics"))
    }
}

extension ImportRequest: WireConvertible {
    var wire: Value { ["type": .string(type), "address": .string(address), "id": .string(id)] }
    init(fields f: WireFields) throws(WireError) {
        self.init(type: try f.string("type"), address: try f.string("address"), id: try f.string("id"))
    }
}

extension ImportResponse: WireConvertible {
    var wire: Value { ["imported": imported?.wire ?? .null, "diagnostics": .list(diagnostics.map(\.wire))] }
    init(fields f: WireFields) throws(WireError) {
        self.init(imported: try f.optionalObject("imported"), diagnostics: try f.list("diagnostics"))
    }
}

extension PlanDeleteRequest: WireConvertible {
    var wire: Value { ["type": .string(type), "address": .string(address), "prior": prior.wire] }
    init(fields f: WireFields) throws(WireError) {
        self.init(type: try f.string("type"), address: try f.string("address"), prior: try f.object("prior"))
    }
}

extension DeleteHolder: WireConvertible {
    var wire: Value {
        ["type": .string(type), "id": .string(id), "attribute": .string(attribute), "value": value, "description": .string(description)]
    }
    init(fields f: WireFields) throws(WireError) {
        guard let value = f.entries["value"] else { throw WireError("`\(f.name("value"))` is missing") }
        self.init(
            type: try f.string("type"), id: try f.string("id"), attribute: try f.string("attribute"), value: value,
            description: try f.optionalString("description") ?? "")
    }
}

extension PlanDeleteResponse: WireConvertible {
    var wire: Value { ["held_by": .list(heldBy.map(\.wire)), "diagnostics": .list(diagnostics.map(\.wire))] }
    init(fields f: WireFields) throws(WireError) {
        self.init(heldBy: try f.list("held_by"), diagnostics: try f.list("diagnostics"))
    }
}

extension ProviderSchema: WireConvertible {
    var wire: Value {
        // Encoding a schema cannot fail: it holds only strings, numbers, flags and nested schemas.
        (try? JSONLine.value(from: JSONEncoder().encode(self))) ?? .null
    }
    init(fields f: WireFields) throws(WireError) {
        do {
            self = try JSONDecoder().decode(ProviderSchema.self, from: JSONLine.encode(.map(f.entries)))
        } catch let error as DecodingError {
            throw WireError("schema: \(JSONLine.explain(error))")
        } catch {
            throw WireError("schema: \(error)")
        }
    }
}

/// One JSON message per line: encoding, decoding and error texts.
enum JSONLine {
    static func encode(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return try encoder.encode(value)
    }

    static func value(from data: Data) throws -> Value {
        try JSONDecoder().decode(Value.self, from: data)
    }

    /// A short account of a decoding error: the path and what was wrong.
    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let steps = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return steps.isEmpty ? "" : "`\(steps.joined(separator: "."))`: "
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return path(context) + context.debugDescription
        case .keyNotFound(let key, let context):
            return path(context) + "`\(key.stringValue)` is missing"
        @unknown default:
            return "\(error)"
        }
    }

    /// The first `limit` characters of a line, for error messages.
    static func excerpt(_ data: Data, limit: Int = 200) -> String {
        let text = String(decoding: data.prefix(limit * 4), as: UTF8.self)
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}
