import Foundation
import Logging
import MLInfraCore
import Synchronization

/// The process's log handler. `MLINFRA_LOG` sets the level (`trace`, `debug`, `info`, `notice`,
/// `warning`, `error`, `critical`, `off`; `info` when unset, which shows no core messages: the
/// core logs at debug and trace); `MLINFRA_LOG_PATH` sends the lines to that file (appended,
/// 0600) instead of stderr. Every line passes through the workspace's redactor, as the
/// console's output does.
enum LogSetup {
    static let levelVariable = "MLINFRA_LOG"
    static let pathVariable = "MLINFRA_LOG_PATH"

    /// Installs the handler; returns a message when a setting is wrong (the command then says so and stops).
    static func bootstrap(_ environment: [String: String]) -> String? {
        var level = Logger.Level.info
        if let text = environment[levelVariable], !text.isEmpty {
            if text.lowercased() == "off" {
                level = .critical
            } else if let parsed = Logger.Level(rawValue: text.lowercased()) {
                level = parsed
            } else {
                return "\(levelVariable) is `\(text)`, which is not a log level; use trace, debug, info, warning, error or off"
            }
        }
        let off = environment[levelVariable]?.lowercased() == "off"
        var sink = LineSink.standardError
        if let path = environment[pathVariable], !path.isEmpty {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return "\(pathVariable) names \(path), which cannot be opened for writing: \(String(cString: strerror(errno)))" }
            sink = LineSink(fd: fd)
        }
        let chosen = sink
        LoggingSystem.bootstrap { label in RedactingLogHandler(label: label, level: off ? .critical : level, sink: chosen, silent: off) }
        return nil
    }
}

/// Where log lines go: one write per line, so lines of concurrent tasks never interleave.
struct LineSink: Sendable {
    let fd: Int32
    static let standardError = LineSink(fd: 2)

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }
}

/// `2026-12-01T15:40:26.108Z debug mlinfra: provider local: read endpoint.fraud: 3.2 ms`, redacted.
struct RedactingLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let sink: LineSink
    let silent: Bool

    init(label: String, level: Logger.Level, sink: LineSink, silent: Bool) {
        self.label = label
        self.logLevel = level
        self.sink = sink
        self.silent = silent
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard !silent else { return }
        var text = "\(JSONEvents.timestamp()) \(event.level) \(label): \(event.message)"
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !all.isEmpty { text += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        sink.write(OutputRedaction.scrub(text) + "\n")
    }
}
