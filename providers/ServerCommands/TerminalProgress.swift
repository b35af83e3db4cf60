import Foundation
import MLInfraCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-line progress bar on standard error, drawn only when standard error is a terminal: the
/// one bar of every provider command (materialize, historical retrieval, vector upserts).
public final class TerminalProgress: Sendable {
    private struct State {
        var phase = ""
        var lastDraw = 0.0
        var drawn = false
    }

    private let enabled: Bool
    private let start = ContinuousClock.now
    private let state = Mutex(State())

    /// - Parameter enabled: draw at all; by default only when standard error is a TTY.
    public init(enabled: Bool = isatty(2) != 0) {
        self.enabled = enabled
    }

    /// A handler to pass to the engine's long operations: a phase and the fraction done.
    public var handler: (@Sendable (_ phase: String, _ fraction: Double) -> Void)? {
        guard enabled else { return nil }
        return { [self] phase, fraction in draw(phase, fraction) }
    }

    /// Draws `done` of `total` items of one phase.
    public func update(_ phase: String, done: Int, of total: Int) {
        guard enabled, total > 0 else { return }
        draw(phase, Double(min(done, total)) / Double(total), count: " (\(min(done, total))/\(total))")
    }

    private func draw(_ phase: String, _ fraction: Double, count: String = "") {
        let now = (ContinuousClock.now - start).seconds
        let line: String? = state.withLock { s in
            guard phase != s.phase || now - s.lastDraw > 0.1 || fraction >= 1 else { return nil }
            s.phase = phase
            s.lastDraw = now
            s.drawn = true
            let width = 30
            let filled = max(0, min(width, Int(fraction * Double(width))))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let pct = Int((fraction * 100).rounded())
            return "\r\u{1B}[2K\(phase.padding(toLength: 28, withPad: " ", startingAt: 0)) \(bar) \(pct)%\(count) \(String(format: "%.1fs", now))"
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// Ends the bar's line, if one was drawn.
    public func finish() {
        let drawn = state.withLock { $0.drawn }
        if enabled && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
