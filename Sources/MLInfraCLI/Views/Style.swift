import Foundation

/// Colours for terminal output: only on a TTY, never with NO_COLOR or --no-color.
struct Style: Sendable {
    var enabled: Bool

    static func detect(noColor: Bool, fileDescriptor: Int32 = 1) -> Style {
        let env = ProcessInfo.processInfo.environment
        let off = noColor || env["NO_COLOR"] != nil || env["TERM"] == "dumb" || isatty(fileDescriptor) == 0
        return Style(enabled: !off)
    }

    static let plain = Style(enabled: false)

    func paint(_ text: String, _ code: String) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
    func green(_ t: String) -> String { paint(t, "32") }
    func yellow(_ t: String) -> String { paint(t, "33") }
    func red(_ t: String) -> String { paint(t, "31") }
    func bold(_ t: String) -> String { paint(t, "1") }
    func dim(_ t: String) -> String { paint(t, "2") }
}
