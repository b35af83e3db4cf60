import Foundation
import MLInfraCore

/// A clock that only moves when a test moves it.
public final class ManualTime: @unchecked Sendable {
    // Guarded by `lock`; shared between a test and the code under test.
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) { current = start }

    public var now: Date { lock.withLock { current } }

    public func advance(by seconds: TimeInterval) { lock.withLock { current += seconds } }
}
