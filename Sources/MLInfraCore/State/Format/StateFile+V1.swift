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

    /// Thrown when a document declares a version other than 1, so the codec can dispatch on it.
    struct OtherVersion: Error {
        var version: Int
    }

    /// Reads one version-1 state object at the cursor.
    ///
    /// Throws `JSONCursor.Failure` (with the offending byte offset) for anything
    /// that is not a valid version-1 state, and `OtherVersion` as soon as
    /// `version` says it is another version.
    static func readState(_ c: inout JSONCursor) throws -> StateFile {
        try c.beginObject("the state")
        var seen = Seen()
        var format: String?
        var version: Int?
        var serial: Int?
        var lineage: String?
        var mlinfraVersion = ""
        var outputs: [String: OutputState] = [:]
        var byAddress: [String: ResourceInstanceState] = [:]
        var first = true
        while let key = try c.nextKey(&first) {
            // Comparing lengths first: string equality is cheap only when it holds.
            switch key.utf8.count {
            case 6 where key == "format":
                try seen.mark(0, key, &c)
                let f = try c.readString("\"format\"")
                guard f == StateFile.formatName else {
                    throw c.error(
                        "this is not an mlinfra state file (\"format\" is \"\(f)\", expected \"\(StateFile.formatName)\")",
                        at: c.keyOffset)
                }
                format = f
            case 7 where key == "version":
                try seen.mark(1, key, &c)
                let v = try c.readInt("\"version\"")
                guard v == StateFileV1.version else { throw OtherVersion(version: v) }
                version = v
            case 6 where key == "serial":
                try seen.mark(2, key, &c)
                serial = try c.readInt("\"serial\"")
            case 7 where key == "lineage":
                try seen.mark(3, key, &c)
                lineage = try c.readString("\"lineage\"")
            case 15 where key == "mlinfra_version":
                try seen.mark(4, key, &c)
                mlinfraVersion = try c.readString("\"mlinfra_version\"")
            case 7 where key == "outputs":
                try seen.mark(5, key, &c)
                outputs = try readOutputs(&c, at: "outputs")
            case 9 where key == "resources":
                try seen.mark(6, key, &c)
                try c.beginArray("\"resources\"")
                var firstResource = true
                var index = 0
                while try c.nextElement(&firstResource) {
                    let at = c.valueOffset()
                    let r = try readResource(&c, at: "resources", index: index)
                    guard byAddress.updateValue(r, forKey: r.address) == nil else {
                        throw c.error("resources[\(index)]: address \"\(r.address)\" appears twice", at: at)
                    }
                    index += 1
                }
            default:
                throw c.error("\"\(key)\" is not a field of a version-\(StateFileV1.version) state file", at: c.keyOffset)
            }
        }
        guard format != nil else { throw c.error("this is not an mlinfra state file (there is no \"format\" field)") }
        guard version != nil else { throw c.error("\"version\" is missing") }
        guard let serial else { throw c.error("\"serial\" is missing") }
        guard let lineage else { throw c.error("\"lineage\" is missing") }
        return StateFile(
            serial: serial, lineage: lineage, mlinfraVersion: mlinfraVersion, byAddress: byAddress, outputs: outputs)
    }

    /// Reads one resource object at the cursor; `at` and `index` say where it is, for errors (`resources[12]`).
    static func readResource(_ c: inout JSONCursor, at base: String, index: Int? = nil) throws -> ResourceInstanceState {
        func place() -> String { index.map { "\(base)[\($0)]" } ?? base }
        try c.beginObject(place())
        let start = c.i
        var seen = Seen()
        var address: String?
        var type: String?
        var provider: String?
        var id: String?
        var status = ResourceStatus.ready
        var inputs: [String: Value] = [:]
        var attributes: [String: Value] = [:]
        var sensitivePaths: [String] = []
        var dependencies: [String] = []
        var schemaVersion = 0
        var first = true
        while let key = try c.nextKey(&first) {
            // Comparing lengths first: string equality is cheap only when it holds.
            switch key.utf8.count {
            case 7 where key == "address":
                try seen.mark(0, key, &c)
                address = try c.readString("\(place()).address")
            case 10 where key == "attributes":
                try seen.mark(1, key, &c)
                attributes = try c.readMap("\(place()).attributes")
            case 12 where key == "dependencies":
                try seen.mark(2, key, &c)
                dependencies = try c.readStrings("\(place()).dependencies")
            case 2 where key == "id":
                try seen.mark(3, key, &c)
                id = try c.readString("\(place()).id")
            case 6 where key == "inputs":
                try seen.mark(4, key, &c)
                inputs = try c.readMap("\(place()).inputs")
            case 8 where key == "provider":
                try seen.mark(5, key, &c)
                provider = try c.readString("\(place()).provider")
            case 14 where key == "schema_version":
                try seen.mark(6, key, &c)
                schemaVersion = try c.readInt("\(place()).schema_version")
            case 15 where key == "sensitive_paths":
                try seen.mark(7, key, &c)
                sensitivePaths = try c.readStrings("\(place()).sensitive_paths")
            case 6 where key == "status":
                try seen.mark(8, key, &c)
                let at = c.valueOffset()
                let text = try c.readString("\(place()).status")
                guard let s = ResourceStatus(rawValue: text) else {
                    throw c.error("\(place()).status is \"\(text)\", expected \"ready\" or \"tainted\"", at: at)
                }
                status = s
            case 4 where key == "type":
                try seen.mark(9, key, &c)
                type = try c.readString("\(place()).type")
            default:
                throw c.error("\(place()).\(key) is not a field of a version-\(StateFileV1.version) state file", at: c.keyOffset)
            }
        }
        guard let address else { throw c.error("\(place()).address is missing", at: start) }
        guard let type else { throw c.error("\(place()).type is missing", at: start) }
        guard let provider else { throw c.error("\(place()).provider is missing", at: start) }
        guard let id else { throw c.error("\(place()).id is missing", at: start) }
        return ResourceInstanceState(
            address: address, type: type, provider: provider, id: id, status: status, inputs: inputs,
            attributes: attributes, sensitivePaths: sensitivePaths, dependencies: dependencies, schemaVersion: schemaVersion)
    }

    /// Reads the outputs object at the cursor.
    static func readOutputs(_ c: inout JSONCursor, at base: String) throws -> [String: OutputState] {
        try c.beginObject(base)
        var outputs: [String: OutputState] = [:]
        var first = true
        while let name = try c.nextKey(&first) {
            let nameOffset = c.keyOffset
            try c.beginObject("\(base).\(name)")
            var seen = Seen()
            var value = Value.null
            var sensitive = false
            var firstField = true
            while let key = try c.nextKey(&firstField) {
                switch key.utf8.count {
                case 9 where key == "sensitive":
                    try seen.mark(0, key, &c)
                    sensitive = try c.readBool("\(base).\(name).sensitive")
                case 5 where key == "value":
                    try seen.mark(1, key, &c)
                    value = try c.readValue()
                default:
                    throw c.error("\(base).\(name).\(key) is not a field of a version-\(StateFileV1.version) output", at: c.keyOffset)
                }
            }
            guard outputs.updateValue(OutputState(value: value, sensitive: sensitive), forKey: name) == nil else {
                throw c.error("duplicate key \"\(name)\" in one object", at: nameOffset)
            }
        }
        return outputs
    }

    /// The fields of one object already read, to refuse a key given twice.
    private struct Seen {
        private var bits: UInt32 = 0

        mutating func mark(_ bit: Int, _ key: String, _ c: inout JSONCursor) throws {
            guard bits & (1 << bit) == 0 else { throw c.error("duplicate key \"\(key)\" in one object", at: c.keyOffset) }
            bits |= 1 << bit
        }
    }
}
