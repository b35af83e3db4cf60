/// Version 1 of the state format: the reader of version-1 documents and the writer.
///
/// ```json
/// {
///   "format": "mlinfra-state",
///   "lineage": "…uuid…",
///   "mlinfra_version": "0.1.0",
///   "outputs": { "NAME": { "sensitive": false, "value": … } },
///   "resources": [ { "address", "attributes", "dependencies", "id", "inputs", "provider",
///                    "schema_version", "sensitive_paths", "status", "type" } ],
///   "serial": 3,
///   "version": 1
/// }
/// ```
/// Unknown fields are refused rather than dropped, so a re-write never loses
/// data a newer or hand-edited file carried. Do not change how this reads
/// version-1 documents: a version 2 gets its own reader and an upgrade step.
enum StateFileV1 {
    static let version = 1

    // MARK: writing (always the current version)

    static func write(_ s: StateFile, to w: inout CanonicalJSONWriter) {
        w.openObject()
        w.key("format")
        w.string(StateFile.formatName)
        w.key("lineage")
        w.string(s.lineage)
        w.key("mlinfra_version")
        w.string(s.mlinfraVersion)
        w.key("outputs")
        writeOutputs(s.outputs, to: &w)
        w.key("resources")
        w.openArray()
        for r in s.resources {
            w.element()
            writeResource(r, to: &w)
        }
        w.closeArray()
        w.key("serial")
        w.int(s.serial)
        w.key("version")
        w.int(version)
        w.closeObject()
    }

    static func writeResource(_ r: ResourceInstanceState, to w: inout CanonicalJSONWriter) {
        w.openObject()
        w.key("address")
        w.string(r.address)
        w.key("attributes")
        w.map(r.attributes)
        w.key("dependencies")
        w.strings(r.dependencies)
        w.key("id")
        w.string(r.id)
        w.key("inputs")
        w.map(r.inputs)
        w.key("provider")
        w.string(r.provider)
        w.key("schema_version")
        w.int(r.schemaVersion)
        w.key("sensitive_paths")
        w.strings(r.sensitivePaths)
        w.key("status")
        w.string(r.status.rawValue)
        w.key("type")
        w.string(r.type)
        w.closeObject()
    }

    static func writeOutputs(_ outputs: [String: OutputState], to w: inout CanonicalJSONWriter) {
        w.openObject()
        for name in CanonicalJSONWriter.sortedKeys(outputs) {
            let o = outputs[name]!
            w.key(name)
            w.openObject()
            w.key("sensitive")
            w.bool(o.sensitive)
            w.key("value")
            w.value(o.value)
            w.closeObject()
        }
        w.closeObject()
    }

    // MARK: reading version-1 documents

    static let topFields: Set<String> = ["format", "lineage", "mlinfra_version", "outputs", "resources", "serial", "version"]
    static let resourceFields: Set<String> = [
        "address", "attributes", "dependencies", "id", "inputs", "provider", "schema_version", "sensitive_paths",
        "status", "type",
    ]
    static let outputFields: Set<String> = ["sensitive", "value"]

    static func read(_ document: [String: Value], path: String) throws -> StateFile {
        var top = Fields(document, at: "", path: path)
        _ = try top.string("format")
        _ = try top.int("version")
        let serial = try top.int("serial")
        let lineage = try top.string("lineage")
        let mlinfraVersion = try top.string("mlinfra_version", default: "")
        let outputs = try readOutputs(top.map("outputs"), at: "outputs", path: path)
        let list = try top.list("resources")
        try top.refuseUnknown(topFields)
        var byAddress: [String: ResourceInstanceState] = [:]
        byAddress.reserveCapacity(list.count)
        for (k, item) in list.enumerated() {
            let r = try readResource(item, at: "resources", index: k, path: path)
            guard byAddress.updateValue(r, forKey: r.address) == nil else {
                throw StateError.unreadable("resources[\(k)]: address \"\(r.address)\" appears twice", path: path)
            }
        }
        return StateFile(
            serial: serial, lineage: lineage, mlinfraVersion: mlinfraVersion, byAddress: byAddress, outputs: outputs)
    }

    /// Reads one resource object; `at` and `index` say where it is, for errors (`resources[12]`).
    static func readResource(_ item: Value, at base: String, index: Int? = nil, path: String) throws -> ResourceInstanceState {
        guard case .map(let m) = item else {
            throw StateError.unreadable("\(Fields.place(base, index)) is a \(item.kindName), expected an object", path: path)
        }
        var f = Fields(m, at: base, index: index, path: path)
        let statusText = try f.string("status", default: ResourceStatus.ready.rawValue)
        guard let status = ResourceStatus(rawValue: statusText) else {
            throw StateError.unreadable(
                "\(f.at).status is \"\(statusText)\", expected \"ready\" or \"tainted\"", path: path)
        }
        let r = ResourceInstanceState(
            address: try f.string("address"), type: try f.string("type"), provider: try f.string("provider"),
            id: try f.string("id"), status: status, inputs: try f.map("inputs"), attributes: try f.map("attributes"),
            sensitivePaths: try f.strings("sensitive_paths"), dependencies: try f.strings("dependencies"),
            schemaVersion: try f.int("schema_version", default: 0))
        try f.refuseUnknown(resourceFields)
        return r
    }

    static func readOutputs(_ m: [String: Value], at where_: String, path: String) throws -> [String: OutputState] {
        var outputs: [String: OutputState] = [:]
        for (name, item) in m {
            guard case .map(let om) = item else {
                throw StateError.unreadable("\(where_).\(name) is a \(item.kindName), expected an object", path: path)
            }
            var f = Fields(om, at: "\(where_).\(name)", path: path)
            outputs[name] = OutputState(value: f.any("value") ?? .null, sensitive: try f.bool("sensitive", default: false))
            try f.refuseUnknown(outputFields)
        }
        return outputs
    }

    /// Typed access to the fields of one object, with errors naming the field's place in the document.
    ///
    /// It counts the fields it was asked for and found, so `refuseUnknown` costs
    /// nothing when every field present was read (the common case).
    struct Fields {
        let m: [String: Value]
        let base: String
        let index: Int?
        let path: String
        private var used = 0

        init(_ m: [String: Value], at base: String, index: Int? = nil, path: String) {
            self.m = m
            self.base = base
            self.index = index
            self.path = path
        }

        /// Where this object is in the document; built only when an error needs it.
        var at: String { Fields.place(base, index) }

        static func place(_ base: String, _ index: Int?) -> String { index.map { "\(base)[\($0)]" } ?? base }

        func name(_ key: String) -> String { at.isEmpty ? "\"\(key)\"" : "\(at).\(key)" }

        func wrong(_ key: String, _ v: Value, _ expected: String) -> StateError {
            StateError.unreadable("\(name(key)) is a \(v.kindName), expected \(expected)", path: path)
        }

        func missing(_ key: String) -> StateError {
            StateError.unreadable("\(name(key)) is missing", path: path)
        }

        /// Call after reading every field of `known`.
        func refuseUnknown(_ known: Set<String>) throws {
            guard m.count != used else { return }
            let unknown = m.keys.filter { !known.contains($0) }.sorted()
            guard let first = unknown.first else { return }
            throw StateError.unreadable(
                "\(name(first)) is not a field of a version-\(StateFileV1.version) state file", path: path)
        }

        mutating func any(_ key: String) -> Value? {
            guard let v = m[key] else { return nil }
            used += 1
            return v
        }

        mutating func string(_ key: String, default d: String? = nil) throws -> String {
            guard let v = any(key) else { if let d { return d } else { throw missing(key) } }
            guard case .string(let s) = v else { throw wrong(key, v, "a string") }
            return s
        }

        mutating func int(_ key: String, default d: Int? = nil) throws -> Int {
            guard let v = any(key) else { if let d { return d } else { throw missing(key) } }
            guard case .int(let i) = v else { throw wrong(key, v, "a whole number") }
            return i
        }

        mutating func bool(_ key: String, default d: Bool) throws -> Bool {
            guard let v = any(key) else { return d }
            guard case .bool(let b) = v else { throw wrong(key, v, "true or false") }
            return b
        }

        mutating func map(_ key: String) throws -> [String: Value] {
            guard let v = any(key) else { return [:] }
            guard case .map(let map) = v else { throw wrong(key, v, "an object") }
            return map
        }

        mutating func list(_ key: String) throws -> [Value] {
            guard let v = any(key) else { return [] }
            guard case .list(let list) = v else { throw wrong(key, v, "a list") }
            return list
        }

        mutating func strings(_ key: String) throws -> [String] {
            var out: [String] = []
            for (k, item) in try list(key).enumerated() {
                guard case .string(let s) = item else {
                    throw StateError.unreadable("\(name(key))[\(k)] is a \(item.kindName), expected a string", path: path)
                }
                out.append(s)
            }
            return out
        }
    }
}
