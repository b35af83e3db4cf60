import Foundation
import Synchronization

/// The online store on a Redis server, through hiredis (docs/decisions/feature-store-online-redis.md).
///
/// Keys (NAMESPACE and VIEW with `%` and `:` percent-encoded, so no two names share a key):
/// - `mlinfra:NAMESPACE:VIEW:ENTITY` → one string per (view, entity): the event time and the
///   created time (8 bytes each, big-endian with the sign bit flipped, so byte order is time
///   order), the layout id (8 bytes, little-endian), then the values as `Payload` encodes them;
/// - `mlinfra:NAMESPACE:VIEW` → a hash of layout id → the JSON list of feature names in
///   payload order. A layout id is the FNV-1a hash of that JSON, so every writer on every
///   machine gives one list the same id; a write checks the hash holds its own list under it.
///
/// Writes go through a Lua script (`EVALSHA`, 256 rows a call, four calls in flight) that keeps,
/// per key, the row with the later (event, created) time — atomic on the server, so concurrent
/// materializations of overlapping windows never leave an older row. A request's lookups of one
/// view are one `MGET`.
final class RedisOnlineStore: OnlineStore {
    let url: RedisURL
    let namespace: String
    private let idle = Mutex<[RedisConnection]>([])
    /// Feature names by layout key and id; a layout id never changes meaning, so this never goes stale.
    private let layouts = Mutex<[String: [Int64: [String]]]>([:])
    private let keep = max(4, ProcessInfo.processInfo.activeProcessorCount * 2)

    /// Rows per script call, and script calls sent before the first reply is read.
    static let batch = 256
    static let inFlight = 4

    init(url: RedisURL, namespace: String) {
        self.url = url
        self.namespace = namespace
    }

    // MARK: keys

    static func escape(_ name: String) -> String {
        var out = ""
        for ch in name {
            switch ch {
            case "%": out += "%25"
            case ":": out += "%3A"
            default: out.append(ch)
            }
        }
        return out
    }

    /// `*`, `?`, `[`, `]` and `\` escaped, for a `SCAN … MATCH` pattern.
    static func globEscape(_ text: String) -> String {
        var out = ""
        for ch in text {
            if "*?[]\\".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    var namespacePrefix: String { "mlinfra:" + Self.escape(namespace) + ":" }
    func layoutKey(_ view: String) -> String { namespacePrefix + Self.escape(view) }
    func rowPrefix(_ view: String) -> [UInt8] { Array((layoutKey(view) + ":").utf8) }

    /// FNV-1a, 64 bits: the same on every machine and in every process, unlike `Hasher`.
    static func layoutID(_ namesJSON: String) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in namesJSON.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return Int64(bitPattern: h)
    }

    /// A time as 8 bytes whose byte order is the time's order.
    static func appendOrdered(_ value: Int64, to out: inout [UInt8]) {
        withUnsafeBytes(of: (UInt64(bitPattern: value) ^ (1 << 63)).bigEndian) { out.append(contentsOf: $0) }
    }

    static func readOrdered(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
        Int64(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) ^ (1 << 63))
    }

    static let header = 24

    // MARK: connections

    /// Runs `body` on a pooled connection; a connection that failed is closed, not returned, since
    /// replies may still be pending on it.
    func withConnection<T>(_ body: (RedisConnection) throws -> T) throws -> T {
        let conn = try idle.withLock { $0.popLast() } ?? RedisConnection(url)
        let result = try body(conn)
        if !conn.broken { idle.withLock { if $0.count < keep { $0.append(conn) } } }
        return result
    }

    private func check(_ reply: RedisReply, _ doing: String) throws {
        if case .error(let message) = reply {
            throw FeatureStoreError.storage(message: "Redis at \(url): \(doing) failed: \(url.scrub(message))")
        }
    }

    // MARK: writing

    /// Keeps, for each KEYS[i], the value ARGV[i] when its first 16 bytes (event time, created
    /// time) are later than the held value's, or equal with other bytes. Returns the keys set.
    static let script = """
        local written = 0
        for i = 1, #KEYS do
          local new = ARGV[i]
          local held = redis.call('GET', KEYS[i])
          local replace = true
          if held then
            local a, b = string.sub(new, 1, 16), string.sub(held, 1, 16)
            if a == b then
              replace = new ~= held
            else
              for j = 1, 16 do
                local x, y = string.byte(a, j), string.byte(b, j)
                if x ~= y then replace = x > y; break end
              end
            end
          end
          if replace then
            redis.call('SET', KEYS[i], new)
            written = written + 1
          end
        end
        return written
        """

    func write(view: String, names: [String], rows: [OnlineRow], progress: (Double) -> Void) throws -> Int {
        let namesJSON = String(decoding: try JSONEncoder().encode(names), as: UTF8.self)
        let id = Self.layoutID(namesJSON)
        let layoutKey = layoutKey(view)
        let prefix = rowPrefix(view)
        return try withConnection { c in
            try check(c.command(["HSETNX", layoutKey, String(id), namesJSON]), "recording the layout of \(view)")
            let held = try c.command(["HGET", layoutKey, String(id)])
            guard held == .string(Array(namesJSON.utf8)) else {
                throw FeatureStoreError.storage(
                    message: "Redis at \(url): layout \(id) of view \(view) holds other feature names than \(namesJSON); "
                        + "remove the view's keys (\(layoutKey)*) and materialize again")
            }
            let loaded = try c.command(["SCRIPT", "LOAD", Self.script])
            try check(loaded, "loading the write script")
            guard case .string(let shaBytes) = loaded else {
                throw FeatureStoreError.storage(message: "Redis at \(url): SCRIPT LOAD gave no script id")
            }
            let sha = String(decoding: shaBytes, as: UTF8.self)
            var written = 0
            var pending = 0
            func receive() throws {
                let reply = try c.reply()
                pending -= 1
                try check(reply, "writing rows of \(view)")
                guard case .integer(let n) = reply else {
                    throw FeatureStoreError.storage(message: "Redis at \(url): the write script answered \(reply), not a count")
                }
                written += Int(n)
            }
            var args = CommandArguments()
            var start = 0
            while start < rows.count {
                let end = min(rows.count, start + Self.batch)
                args.removeAll()
                args.add("EVALSHA")
                args.add(sha)
                args.add(String(end - start))
                for row in rows[start..<end] {
                    args.bytes.append(contentsOf: prefix)
                    args.bytes.append(contentsOf: row.key.utf8)
                    args.end()
                }
                for row in rows[start..<end] {
                    Self.appendOrdered(row.eventTs, to: &args.bytes)
                    Self.appendOrdered(row.createdTs, to: &args.bytes)
                    withUnsafeBytes(of: id.littleEndian) { args.bytes.append(contentsOf: $0) }
                    args.bytes.append(contentsOf: row.payload)
                    args.end()
                }
                try c.append(args)
                pending += 1
                if pending >= Self.inFlight { try receive() }
                progress(Double(end) / Double(rows.count))
                start = end
            }
            while pending > 0 { try receive() }
            return written
        }
    }

    // MARK: reading

    func read(
        _ group: OnlinePlan.Group, count: Int, connection _: ReaderConnection,
        key: (Int, inout [UInt8]) throws -> Bool,
        found: (Int, Int64, OnlinePlan.Layout, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let prefix = rowPrefix(group.view)
        var args = CommandArguments()
        args.add("MGET")
        var asked: [Int] = []
        asked.reserveCapacity(count)
        var text: [UInt8] = []
        for row in 0..<count {
            guard try key(row, &text) else { continue }
            args.bytes.append(contentsOf: prefix)
            args.bytes.append(contentsOf: text)
            args.end()
            asked.append(row)
        }
        guard !asked.isEmpty else { return }
        let layoutKey = layoutKey(group.view)
        try withConnection { c in
            try c.append(args)
            try c.reply { reply in
                if let message = RedisReply.errorText(reply) {
                    throw FeatureStoreError.storage(message: "Redis at \(url): reading rows of \(group.view) failed: \(url.scrub(message))")
                }
                var layoutID: Int64 = .min
                var layout = OnlinePlan.Layout(positions: [], needed: 0)
                for (i, item) in RedisReply.elements(reply).enumerated() {
                    guard let bytes = RedisReply.bytes(item) else { continue }
                    guard bytes.count >= Self.header else {
                        throw FeatureStoreError.storage(
                            message: "damaged online row for view '\(group.view)' in Redis at \(url) (\(bytes.count) bytes); materialize again")
                    }
                    let stored = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: Int64.self))
                    if stored != layoutID {
                        layout = group.layout(storing: try names(of: stored, layoutKey: layoutKey, view: group.view, c))
                        layoutID = stored
                    }
                    try found(asked[i], Self.readOrdered(bytes, at: 0), layout, UnsafeRawBufferPointer(rebasing: bytes[Self.header...]))
                }
            }
        }
    }

    /// The feature names of layout `id`, from the cache or the view's layout hash.
    private func names(of id: Int64, layoutKey: String, view: String, _ c: RedisConnection) throws -> [String] {
        if let hit = layouts.withLock({ $0[layoutKey]?[id] }) { return hit }
        let reply = try c.command(["HGET", layoutKey, String(id)])
        try check(reply, "reading layout \(id) of \(view)")
        guard case .string(let json) = reply else {
            throw FeatureStoreError.storage(message: "online row of view '\(view)' refers to layout \(id), which \(layoutKey) in Redis at \(url) lacks; materialize again")
        }
        let names = try OnlinePlan.decodeNames(String(decoding: json, as: UTF8.self), layout: id)
        layouts.withLock { $0[layoutKey, default: [:]][id] = names }
        return names
    }

    // MARK: removing

    func remove(view: String) throws {
        try unlink(matching: Self.globEscape(layoutKey(view) + ":") + "*")
        try withConnection { c in try check(c.command(["UNLINK", layoutKey(view)]), "removing the layouts of \(view)") }
        layouts.withLock { $0[layoutKey(view)] = nil }
    }

    func removeAll() throws {
        try unlink(matching: Self.globEscape(namespacePrefix) + "*")
        layouts.withLock { $0.removeAll() }
    }

    /// Unlinks every key matching `pattern`, a `SCAN` page at a time.
    private func unlink(matching pattern: String) throws {
        try withConnection { c in
            var cursor = "0"
            repeat {
                let reply = try c.command(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])
                try check(reply, "listing keys to remove")
                guard case .array(let parts) = reply, parts.count == 2, case .string(let next) = parts[0], case .array(let keys) = parts[1] else {
                    throw FeatureStoreError.storage(message: "Redis at \(url): SCAN answered \(reply)")
                }
                cursor = String(decoding: next, as: UTF8.self)
                if !keys.isEmpty {
                    var args = CommandArguments()
                    args.add("UNLINK")
                    for case .string(let k) in keys { args.add(k) }
                    try check(c.command(args), "removing keys")
                }
            } while cursor != "0"
        }
    }
}
