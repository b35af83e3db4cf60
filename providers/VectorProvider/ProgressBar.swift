import Foundation

/// A one-line progress bar on standard error, drawn only when it is a terminal.
final class ProgressBar: @unchecked Sendable {
    // `last` and `shown` are touched under `lock`; updates may come from build threads.
    private let lock = NSLock()
    private let total: Int
    private let label: String
    private let enabled: Bool
    private var last = -1
    private var shown = false

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        enabled = isatty(2) == 1 && total > 0
    }

    func update(_ done: Int) {
        guard enabled else { return }
        lock.withLock {
            let percent = min(100, done * 100 / max(total, 1))
            guard percent != last else { return }
            last = percent
            shown = true
            let width = 30
            let filled = percent * width / 100
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(percent)% (\(min(done, total))/\(total))".utf8))
        }
    }

    func finish() {
        guard enabled else { return }
        lock.withLock {
            if shown { FileHandle.standardError.write(Data("\n".utf8)) }
            shown = false
        }
    }
}
