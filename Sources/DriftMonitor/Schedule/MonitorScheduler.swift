import Foundation
import Logging
import ServiceLifecycle

/// Runs monitors on their cron schedules, as a service inside `mlinfra agent`.
///
/// Missed-run policy: when the agent starts (or a monitor is first seen) and at least one
/// scheduled time passed since the monitor's last scheduled run (or since it was created),
/// the monitor runs **once**, at once, recorded as `catch-up` — never one run per missed
/// slot. After that it runs at each scheduled time. The store is re-read every
/// `refreshInterval`, so monitors applied while the agent runs are picked up.
public struct MonitorScheduler: Service {
    public let engine: DriftMonitorEngine
    /// What the scheduler sleeps on: `ContinuousClock`, or a test's manual clock.
    public let clock: any Clock<Duration>
    /// The wall time schedules are due by (cron times are wall times): `Date()`, or a test's manual clock.
    public let now: @Sendable () -> Date
    public var refreshInterval: TimeInterval
    let logger: Logger

    public init(engine: DriftMonitorEngine, clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() },
                refreshInterval: TimeInterval = 30, logger: Logger = Logger(label: "mlinfra.monitoring.scheduler")) {
        self.engine = engine
        self.clock = clock
        self.now = now
        self.refreshInterval = refreshInterval
        self.logger = logger
    }

    /// A scheduler over the monitors stored under `directory` (the provider's data_dir).
    public init(directory: String) throws {
        self.init(engine: try DriftMonitorEngine(dataDirectory: directory))
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await loop()
        }
    }

    /// The next time each monitor is due, keyed by name.
    struct Plan { var due: [String: (Date, MonitorRun.Trigger, String)] = [:] }

    func loop() async throws {
        var plan = Plan()
        while !Task.isCancelled {
            let now = self.now()
            refresh(&plan, now: now)
            // Run what is due, one monitor at a time (a run reads a whole window of data).
            for (name, entry) in plan.due.sorted(by: { $0.key < $1.key }) where entry.0 <= now {
                // A slot passed while the process was busy or asleep more than a minute ago:
                // one catch-up run now stands for all the slots missed.
                let late = now.timeIntervalSince(entry.0) > 60
                do {
                    try await engine.run(name, at: late ? now : entry.0, trigger: late ? .catchUp : entry.1)
                } catch {
                    logger.error("monitor \(name): scheduled run failed: \(error)")
                }
                if let cron = try? CronExpression(entry.2), let next = cron.next(after: max(now, entry.0)) {
                    plan.due[name] = (next, .schedule, entry.2)
                } else {
                    plan.due[name] = nil
                }
            }
            let nextDue = plan.due.values.map(\.0).min() ?? .distantFuture
            // Sleep on the clock until the wall time reaches `wake` (or at once when it has passed).
            let wake = min(nextDue, self.now().addingTimeInterval(refreshInterval))
            let seconds = wake.timeIntervalSince(self.now())
            if seconds > 0 { try await clock.sleep(for: .seconds(seconds)) }
            try Task.checkCancellation()
        }
    }

    /// Adds monitors that appeared, drops removed ones, and re-plans those whose schedule changed.
    func refresh(_ plan: inout Plan, now: Date) {
        let monitors: [MonitorDefinition]
        do { monitors = try engine.store.monitors() } catch {
            logger.error("cannot read monitors: \(error)")
            return
        }
        let names = Set(monitors.map(\.name))
        for name in plan.due.keys where !names.contains(name) { plan.due[name] = nil }
        for m in monitors {
            guard let schedule = m.schedule, let cron = try? CronExpression(schedule) else {
                plan.due[m.name] = nil
                continue
            }
            if let existing = plan.due[m.name], existing.2 == schedule { continue }
            // New to this scheduler (start-up, or just applied), or its schedule changed.
            let since = (try? engine.store.lastScheduledRunTime(m.name)) ?? nil
            let base = since ?? ((try? engine.store.created(m.name)) ?? nil) ?? now
            if let missed = cron.next(after: base), missed <= now, plan.due[m.name] == nil {
                plan.due[m.name] = (now, .catchUp, schedule)
            } else if let next = cron.next(after: now) {
                plan.due[m.name] = (next, .schedule, schedule)
            }
        }
    }
}
