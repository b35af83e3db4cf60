/// The apply journal: an append-only log of finished operations beside the state, one line each.
///
/// Every line is `CRC32HEX SPACE JSON LF`, the checksum covering the JSON, and
/// every JSON body carries the journal's lineage and base serial and a
/// sequence number, so a line can never be applied to the wrong state or out
/// of order. The first line (`kind: begin`) records the base; when nothing was
/// stored yet it embeds the base state itself, so recovery never needs a
/// state file that was never written. The last line of a committed journal
/// (`kind: commit`) names the serial the folded state was written as, which
/// tells recovery whether a crash came before or after that write.
///
/// A crash mid-append leaves a last line without its newline or with a bad
/// checksum: it is ignored (that operation was in flight). A bad line followed
/// by good ones is corruption, and is refused rather than skipped.
public enum StateJournal {
    public static let formatName = "mlinfra-journal"
    public static let version = 1

    /// What a journal file holds.
    public struct Contents: Sendable, Hashable {
        public var lineage: String
        public var baseSerial: Int
        /// The base state itself, when nothing was stored when the journal began.
        public var base: StateFile?
        public var entries: [JournalEntry]
        /// The serial the folded state was written as, when the journal was committed.
        public var committedSerial: Int?
        /// Whether an incomplete last line (the operation in flight at a crash) was ignored.
        public var ignoredTornLine: Bool
    }

    /// What `read` must do with a journal it found.
    public enum Recovery: Sendable, Hashable {
        /// Nothing to apply (no entries, or already committed): just remove the journal.
        case discard
        /// Store this state (as serial `state.serial + 1`), then remove the journal.
        case write(StateFile)
    }

    // MARK: writing lines

    public static func beginLine(base: StateFile, embedBase: Bool, encryption: StateEncryption = .none, scope: String = "") -> [UInt8] {
        line(encryption, scope) { w in
            if embedBase {
                w.key("base")
                StateFileV1.write(base, to: &w)
            }
            w.key("base_serial")
            w.int(base.serial)
            w.key("format")
            w.string(formatName)
            w.key("kind")
            w.string("begin")
            w.key("lineage")
            w.string(base.lineage)
            w.key("seq")
            w.int(0)
            w.key("state_version")
            w.int(StateFile.currentVersion)
            w.key("version")
            w.int(version)
        }
    }

    /// One entry's line; its cost depends on the entry only, never on the state.
    public static func entryLine(
        _ entry: JournalEntry, lineage: String, baseSerial: Int, seq: Int, encryption: StateEncryption = .none, scope: String = ""
    ) -> [UInt8] {
        line(encryption, scope) { w in
            if case .remove(let address) = entry {
                w.key("address")
                w.string(address)
            }
            w.key("base_serial")
            w.int(baseSerial)
            w.key("kind")
            switch entry {
            case .upsert: w.string("upsert")
            case .remove: w.string("remove")
            case .outputs: w.string("outputs")
            }
            w.key("lineage")
            w.string(lineage)
            if case .outputs(let outputs) = entry {
                w.key("outputs")
                StateFileV1.writeOutputs(outputs, to: &w)
            }
            if case .upsert(let r) = entry {
                w.key("resource")
                StateFileV1.writeResource(r, to: &w)
            }
            w.key("seq")
            w.int(seq)
        }
    }

    public static func commitLine(
        lineage: String, baseSerial: Int, seq: Int, serial: Int, encryption: StateEncryption = .none, scope: String = ""
    ) -> [UInt8] {
        line(encryption, scope) { w in
            w.key("base_serial")
            w.int(baseSerial)
            w.key("kind")
            w.string("commit")
            w.key("lineage")
            w.string(lineage)
            w.key("seq")
            w.int(seq)
            w.key("serial")
            w.int(serial)
        }
    }

    /// A line's bytes; with encryption on, its JSON is sealed (one envelope per line) and the
    /// checksum covers the envelope, so a torn line is still told from a tampered one.
    private static func line(_ encryption: StateEncryption, _ scope: String, _ fields: (inout CanonicalJSONWriter) -> Void) -> [UInt8] {
        var w = CanonicalJSONWriter(pretty: false, capacity: 256)
        w.openObject()
        fields(&w)
        w.closeObject()
        let body = encryption.seal(w.bytes, kind: .journal, scope: scope)
        var out = hex8(CRC32.checksum(body))
        out.append(0x20)
        out.append(contentsOf: body)
        out.append(0x0A)
        return out
    }

    // MARK: reading

    /// One checked line: its scalar fields, and the typed payload of its kind.
    private struct Line {
        var number: Int
        var fields: [String: Value] = [:]
        var resource: ResourceInstanceState?
        var outputs: [String: OutputState]?
        var base: StateFile?
    }

    /// Reads a journal; nil when it holds no complete begin line (a crash while it was being started).
    /// A line whose checksum matches but whose envelope does not open is refused, never skipped.
    public static func parse(_ bytes: [UInt8], path: String, encryption: StateEncryption = .none, scope: String = "") throws -> Contents? {
        var raws: [ArraySlice<UInt8>] = []
        var start = 0
        for k in bytes.indices where bytes[k] == 0x0A {
            raws.append(bytes[start..<k])
            start = k + 1
        }
        var torn = start < bytes.count
        var lines: [Line] = []
        for (n, raw) in raws.enumerated() {
            guard let body = checkedBody(raw) else {
                if n == raws.count - 1 && !torn {
                    torn = true
                    continue
                }
                throw corrupt("line \(n + 1) is damaged (bad checksum) and later lines follow it", path: path)
            }
            let plain = try encryption.open(Array(body), kind: .journal, scope: scope, location: "\(path) line \(n + 1)")
            lines.append(try readLine(plain, number: n + 1, path: path))
        }
        guard let header = lines.first else { return nil }
        guard header.fields["kind"] == .string("begin"), header.fields["format"] == .string(formatName) else {
            throw corrupt("line 1 is not the start of an mlinfra journal", path: path)
        }
        guard header.fields["version"] == .int(version), header.fields["state_version"] == .int(StateFile.currentVersion) else {
            throw StateError(
                .journalMismatch,
                "the journal was written by another mlinfra version (journal version \(header.fields["version"]?.rendered ?? "?"), "
                    + "state version \(header.fields["state_version"]?.rendered ?? "?")); it was not applied",
                path: path, remedy: "run the command again with the mlinfra version that was interrupted, so it recovers the journal")
        }
        guard let lineage = header.fields["lineage"]?.stringValue, case .int(let baseSerial)? = header.fields["base_serial"] else {
            throw corrupt("line 1 has no lineage or base serial", path: path)
        }
        var contents = Contents(
            lineage: lineage, baseSerial: baseSerial, base: header.base, entries: [], committedSerial: nil, ignoredTornLine: torn)
        for (k, line) in lines.enumerated().dropFirst() {
            let m = line.fields
            guard m["lineage"] == .string(lineage), m["base_serial"] == .int(baseSerial) else {
                throw corrupt("line \(line.number) belongs to another journal (lineage or base serial differs from line 1)", path: path)
            }
            guard m["seq"] == .int(k) else {
                throw corrupt("line \(line.number) is out of sequence (expected seq \(k)): a line is missing", path: path)
            }
            guard contents.committedSerial == nil else {
                throw corrupt("line \(line.number) follows the commit line", path: path)
            }
            switch m["kind"]?.stringValue {
            case "upsert":
                guard let r = line.resource else { throw corrupt("line \(line.number) has no resource", path: path) }
                contents.entries.append(.upsert(r))
            case "remove":
                guard let address = m["address"]?.stringValue else { throw corrupt("line \(line.number) has no address", path: path) }
                contents.entries.append(.remove(address: address))
            case "outputs":
                guard let o = line.outputs else { throw corrupt("line \(line.number) has no outputs", path: path) }
                contents.entries.append(.outputs(o))
            case "commit":
                guard case .int(let serial)? = m["serial"] else { throw corrupt("line \(line.number) has no serial", path: path) }
                contents.committedSerial = serial
            default:
                throw corrupt("line \(line.number) has an unknown kind \(m["kind"]?.rendered ?? "(none)")", path: path)
            }
        }
        return contents
    }

    /// Reads one line body whose checksum matched: a bad body here is not a torn write but damage.
    private static func readLine(_ body: [UInt8], number: Int, path: String) throws -> Line {
        do {
            return try JSONCursor.with(body) { c in
                var line = Line(number: number)
                try c.beginObject("a journal line")
                var first = true
                while let key = try c.nextKey(&first) {
                    switch key {
                    case "resource": line.resource = try StateFileV1.readResource(&c, at: "resource")
                    case "outputs": line.outputs = try StateFileV1.readOutputs(&c, at: "outputs")
                    case "base": line.base = try StateFileV1.readState(&c)
                    default: line.fields[key] = try c.readValue()
                    }
                }
                try c.expectEnd()
                return line
            }
        } catch let failure as JSONCursor.Failure {
            throw corrupt("line \(number) cannot be read: \(failure.message) (at byte \(failure.offset) of the line)", path: path)
        } catch let other as StateFileV1.OtherVersion {
            throw corrupt("line \(number) embeds a state of version \(other.version)", path: path)
        }
    }

    /// Decides what to do with a journal, given the stored state (nil when none is stored).
    public static func recovery(stored: StateFile?, journal: Contents, path: String) throws -> Recovery {
        let base: StateFile
        if let stored {
            guard stored.lineage == journal.lineage else {
                throw mismatch(
                    "the journal belongs to lineage \(journal.lineage) but the state file has lineage \(stored.lineage)", path: path)
            }
            if stored.serial == journal.baseSerial {
                base = stored
            } else if let committed = journal.committedSerial, committed == stored.serial {
                return .discard
            } else {
                throw mismatch(
                    "the journal was started at serial \(journal.baseSerial) but the state file is at serial \(stored.serial)",
                    path: path)
            }
        } else if let embedded = journal.base {
            base = embedded
        } else {
            throw mismatch("the journal was started at serial \(journal.baseSerial), but there is no state file", path: path)
        }
        guard !journal.entries.isEmpty else { return .discard }
        var folded = base
        for entry in journal.entries { folded.apply(entry) }
        return .write(folded)
    }

    // MARK: helpers

    private static func checkedBody(_ raw: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard raw.count > 9, raw[raw.startIndex + 8] == 0x20 else { return nil }
        let body = raw[(raw.startIndex + 9)...]
        guard let sum = UInt32(String(decoding: raw.prefix(8), as: UTF8.self), radix: 16),
            sum == CRC32.checksum(body)
        else { return nil }
        return body
    }

    private static func hex8(_ v: UInt32) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return (0..<8).reversed().map { digits[Int((v >> (UInt32($0) * 4)) & 0xF)] }
    }

    private static func corrupt(_ message: String, path: String) -> StateError {
        StateError(
            .journalMismatch, "the journal is damaged: \(message); it was not applied and the state was left unchanged",
            path: path,
            remedy: "inspect the journal (one JSON operation per line); move it away to discard those operations, "
                + "then run `mlinfra plan` to see what differs")
    }

    private static func mismatch(_ message: String, path: String) -> StateError {
        StateError(
            .journalMismatch, "\(message); it was not applied and the state was left unchanged", path: path,
            remedy: "if the state file was restored or replaced by hand, the journal's operations are not in it: "
                + "move the journal away and run `mlinfra plan` (or `mlinfra import`) to reconcile")
    }
}

/// CRC-32 (IEEE 802.3), to tell a complete journal line from a torn one.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<C: Collection<UInt8>>(_ bytes: C) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}
