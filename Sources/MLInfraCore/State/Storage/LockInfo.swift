import Foundation

/// Who holds a state lock, recorded in the lock so a second writer can say who is in its way.
public struct LockInfo: Sendable, Codable, Hashable {
    /// A random id; `mlinfra force-unlock ID` names it.
    public var id: String
    /// The command that took it: `apply`, `destroy`, `import`, `state rm` …
    public var operation: String
    /// The user name.
    public var who: String
    public var host: String
    public var pid: Int32
    /// When it was taken; whole milliseconds, so it survives the ISO 8601 round trip.
    public var created: Date
    /// Which process `pid` was: the boot's id and the process's start time since boot, so a pid
    /// reused after the holder died (or after a reboot) is not taken for the holder.
    public var processStart: String?
    /// The CI run that took it, when the CI environment names one (GitHub Actions, GitLab CI).
    public var ciRunURL: String?

    public init(
        id: String, operation: String, who: String, host: String, pid: Int32, created: Date, processStart: String? = nil,
        ciRunURL: String? = nil
    ) {
        self.id = id
        self.operation = operation
        self.who = who
        self.host = host
        self.pid = pid
        self.created = Date(timeIntervalSince1970: (created.timeIntervalSince1970 * 1000).rounded() / 1000)
        self.processStart = processStart
        self.ciRunURL = ciRunURL
    }

    /// A lock for `operation` by this process, user and host, now.
    public static func make(operation: String) -> LockInfo {
        LockInfo(
            id: UUID().uuidString.lowercased(), operation: operation, who: currentUser(), host: currentHost(),
            pid: getpid(), created: Date(), processStart: processStart(of: getpid()),
            ciRunURL: ciRunURL(ProcessInfo.processInfo.environment))
    }

    /// The CI run's web address: GitHub Actions' `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`,
    /// or GitLab's `CI_JOB_URL`; nil outside CI.
    public static func ciRunURL(_ env: [String: String]) -> String? {
        if let server = env["GITHUB_SERVER_URL"], let repository = env["GITHUB_REPOSITORY"], let run = env["GITHUB_RUN_ID"],
            !server.isEmpty, !repository.isEmpty, !run.isEmpty
        {
            return "\(server)/\(repository)/actions/runs/\(run)"
        }
        if let job = env["CI_JOB_URL"], !job.isEmpty { return job }
        return nil
    }

    /// Why the lock is provably abandoned, when it can be told: on this host, its process is gone,
    /// or the pid now belongs to a process started after it. A lock from another host is never
    /// called stale, since its process cannot be checked.
    public func staleReason() -> String? {
        guard host == LockInfo.currentHost() else { return nil }
        if pid <= 0 { return "its process id \(pid) is not valid" }
        if kill(pid, 0) != 0 {
            return errno == ESRCH ? "process \(pid) is not running on \(host)" : nil
        }
        if let recorded = processStart, let now = LockInfo.processStart(of: pid), now != recorded {
            return "process \(pid) on \(host) is not the one that took the lock (its pid was reused)"
        }
        return nil
    }

    /// `BOOT_ID:START_TICKS` of a process on this machine (Linux `/proc`), or nil where it cannot be read.
    static func processStart(of pid: Int32) -> String? {
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, starttime field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return boot.trimmingCharacters(in: .whitespacesAndNewlines) + ":" + fields[19]
    }

    /// A JSON object on one line, `created` in ISO 8601 with milliseconds.
    public func jsonBytes() -> [UInt8] {
        var w = CanonicalJSONWriter(pretty: true)
        w.openObject()
        if let ciRunURL {
            w.key("ci_run_url")
            w.string(ciRunURL)
        }
        w.key("created")
        w.string(LockInfo.timestamp(created))
        w.key("host")
        w.string(host)
        w.key("id")
        w.string(id)
        w.key("operation")
        w.string(operation)
        w.key("pid")
        w.int(Int(pid))
        if let processStart {
            w.key("process_start")
            w.string(processStart)
        }
        w.key("who")
        w.string(who)
        w.closeObject()
        return w.bytes + [0x0A]
    }

    /// Reads a lock file's contents; nil when it is not a lock (empty, or being written).
    public static func parse(_ bytes: [UInt8]) -> LockInfo? {
        guard case .map(let m)? = try? JSONCursor.parse(bytes),
            let id = m["id"]?.stringValue, let created = m["created"]?.stringValue.flatMap(date(from:))
        else { return nil }
        return LockInfo(
            id: id, operation: m["operation"]?.stringValue ?? "unknown", who: m["who"]?.stringValue ?? "unknown",
            host: m["host"]?.stringValue ?? "unknown", pid: Int32(truncatingIfNeeded: m["pid"]?.intValue ?? 0),
            created: created, processStart: m["process_start"]?.stringValue, ciRunURL: m["ci_run_url"]?.stringValue)
    }

    private enum CodingKeys: String, CodingKey {
        case id, operation, who, host, pid, created
        case processStart = "process_start"
        case ciRunURL = "ci_run_url"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .created)
        guard let created = LockInfo.date(from: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .created, in: c, debugDescription: "\"\(text)\" is not an ISO 8601 date")
        }
        self.init(
            id: try c.decode(String.self, forKey: .id), operation: try c.decode(String.self, forKey: .operation),
            who: try c.decode(String.self, forKey: .who), host: try c.decode(String.self, forKey: .host),
            pid: try c.decode(Int32.self, forKey: .pid), created: created,
            processStart: try c.decodeIfPresent(String.self, forKey: .processStart),
            ciRunURL: try c.decodeIfPresent(String.self, forKey: .ciRunURL))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(operation, forKey: .operation)
        try c.encode(who, forKey: .who)
        try c.encode(host, forKey: .host)
        try c.encode(pid, forKey: .pid)
        try c.encode(LockInfo.timestamp(created), forKey: .created)
        try c.encodeIfPresent(processStart, forKey: .processStart)
        try c.encodeIfPresent(ciRunURL, forKey: .ciRunURL)
    }

    /// `2026-11-22T00:45:12.345Z`, rounded to the millisecond (the formatter would truncate, and 0.123 is stored as 0.12299…).
    public static func timestamp(_ d: Date) -> String {
        let ms = Int64((d.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = (ms - ((ms % 1000) + 1000) % 1000, ((ms % 1000) + 1000) % 1000)
        let whole = Date(timeIntervalSince1970: Double(seconds) / 1000).formatted(Date.ISO8601FormatStyle())
        let digits = String(fraction)
        return whole.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    static func date(from text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    static func currentUser() -> String {
        if let u = ProcessInfo.processInfo.environment["USER"], !u.isEmpty { return u }
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(getuid())"
    }

    static func currentHost() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
