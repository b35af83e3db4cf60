/// Seconds elapsed on an injected clock since the stopwatch was made: how the agent measures
/// intervals (lease renewal, restart backoff, router retries, drain timeouts) on
/// `ContinuousClock` in production, or on a test's manual clock.
struct Stopwatch: Sendable {
    private let read: @Sendable () -> Duration

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let start = clock.now
        read = { start.duration(to: clock.now) }
    }

    var elapsed: Duration { read() }

    var seconds: Double {
        let (whole, fraction) = elapsed.components
        return Double(whole) + Double(fraction) / 1e18
    }
}
