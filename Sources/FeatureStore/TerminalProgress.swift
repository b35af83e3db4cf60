import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
public final class TerminalProgress: Sendable {
    private struct State {
        var phase = ""
        var lastDraw = 0.0
        var drawn = false
    }

    private let enabled: Bool
    private let start = Date()
    private let state = Mutex(State())

    /// - Parameter enabled: draw at all; by default only when standard error is a TTY.
    public init(enabled: Bool = isatty(2) != 0) {
        self.enabled = enabled
    }

    /// A handler to pass to the engine's long operations.
    public var handler: ProgressHandler? {
        guard enabled else { return nil }
        return { [self] phase, fraction in draw(phase, fraction) }
    }

    private func draw(_ phase: String, _ fraction: Double) {
        let now = Date().timeIntervalSince(start)
        let line: String? = state.withLock { s in
            guard phase != s.phase || now - s.lastDraw > 0.1 || fraction >= 1 else { return nil }
            s.phase = phase
            s.lastDraw = now
            s.drawn = true
            let width = 30
            let filled = max(0, min(width, Int(fraction * Double(width))))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let pct = Int((fraction * 100).rounded())
            return "\r\u{1B}[2K\(phase.padding(toLength: 28, withPad: " ", startingAt: 0)) \(bar) \(pct)% \(String(format: "%.1fs", now))"
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// Ends the bar's line, if one was drawn.
    public func finish() {
        let drawn = state.withLock { $0.drawn }
        if enabled && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
