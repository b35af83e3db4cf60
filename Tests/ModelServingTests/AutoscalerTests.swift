import Foundation
import MLInfraTesting
import Testing

@testable import ModelServing

/// The autoscaler's decisions on scripted metric sequences, time moved by a manual clock.
@Suite struct AutoscalerTests {
    let clock = ManualClock(wall: Date(timeIntervalSince1970: 1_000))

    func scaler(min: Int = 1, max: Int = 5, metric: EndpointConfig.Metric = .concurrency, target: Double = 8, window: Double = 300, current: Int = 1) -> Autoscaler {
        Autoscaler(min: min, max: max, metric: metric, target: target, scaleDownWindow: window, startedAt: clock.wallSeconds, current: current)
    }

    @Test func scalesUpAtOnceByTheHPARule() {
        var a = scaler()
        clock.advance(by: 1)
        let d = a.decide(endpoint: "e", current: 1, value: 20, now: clock.wallSeconds)
        #expect(d.desired == 3)  // ceil(1 × 20 / 8)
        #expect(d.recommended == 3)
        #expect(d.reason.hasPrefix("scale up"))
        #expect(d.value == 20 && d.target == 8 && d.current == 1)
    }

    @Test func noChangeWithinTenPercentTolerance() {
        var a = scaler(current: 2)
        for value in [8.0, 8.79, 7.21, 8.5] {
            clock.advance(by: 15)
            let d = a.decide(endpoint: "e", current: 2, value: value, now: clock.wallSeconds)
            #expect(d.desired == 2, "value \(value)")
            #expect(d.reason.hasPrefix("keep"))
        }
        clock.advance(by: 15)
        #expect(a.decide(endpoint: "e", current: 2, value: 8.9, now: clock.wallSeconds).desired == 3)  // ratio 1.1125
    }

    @Test func clampsToMinAndMax() {
        var a = scaler(min: 2, max: 4, current: 2)
        clock.advance(by: 1)
        let up = a.decide(endpoint: "e", current: 2, value: 1000, now: clock.wallSeconds)
        #expect(up.desired == 4)
        #expect(up.reason.contains("clamped"))
        var b = scaler(min: 2, max: 4, window: 0, current: 3)
        clock.advance(by: 1)
        #expect(b.decide(endpoint: "e", current: 3, value: 0, now: clock.wallSeconds).desired == 2)
    }

    @Test func scaleDownWaitsForTheStabilizationWindow() {
        var a = scaler(max: 8, window: 300)
        clock.advance(by: 1)
        #expect(a.decide(endpoint: "e", current: 1, value: 32, now: clock.wallSeconds).desired == 4)
        let peak = clock.wallSeconds
        // Load drops to 2 per replica: the recommendation is 1, but 4 holds for the window.
        var current = 4
        while clock.wallSeconds < peak + 300 {
            clock.advance(by: 15)
            let d = a.decide(endpoint: "e", current: current, value: 2, now: clock.wallSeconds)
            if clock.wallSeconds - peak <= 300 {
                #expect(d.desired == 4, "at +\(clock.wallSeconds - peak)s")
                #expect(d.recommended == 1)
                #expect(d.reason.contains("held"))
            }
            current = d.desired
        }
        clock.advance(by: 15)
        let d = a.decide(endpoint: "e", current: current, value: 2, now: clock.wallSeconds)
        #expect(d.desired == 1)
        #expect(d.reason.hasPrefix("scale down"))
    }

    @Test func aShortDipDoesNotScaleDown() {
        var a = scaler(max: 8, window: 60, current: 4)
        var desired: [Int] = []
        for value in [8.0, 2, 2, 8, 2, 8] {
            clock.advance(by: 10)
            desired.append(a.decide(endpoint: "e", current: 4, value: value, now: clock.wallSeconds).desired)
        }
        #expect(desired == [4, 4, 4, 4, 4, 4])
    }

    @Test func freshAutoscalerWatchesAWholeWindowBeforeScalingDown() {
        var a = scaler(window: 30, current: 3)
        clock.advance(by: 10)
        #expect(a.decide(endpoint: "e", current: 3, value: 0, now: clock.wallSeconds).desired == 3)
        clock.advance(by: 25)
        #expect(a.decide(endpoint: "e", current: 3, value: 0, now: clock.wallSeconds).desired == 1)
    }

    @Test func requestsPerSecondMetric() {
        var a = scaler(max: 10, metric: .rps, target: 100, current: 2)
        clock.advance(by: 1)
        let d = a.decide(endpoint: "e", current: 2, value: 250, now: clock.wallSeconds)
        #expect(d.desired == 5)
        #expect(d.metric == "rps")
    }

    @Test func loweredMaxAppliesAtOnce() {
        var a = scaler(max: 8, window: 300, current: 6)
        a.update(min: 1, max: 3, metric: .concurrency, target: 8, scaleDownWindow: 300)
        clock.advance(by: 1)
        #expect(a.decide(endpoint: "e", current: 6, value: 8, now: clock.wallSeconds).desired == 3)
    }

    @Test func manualClockWakesSleepers() async throws {
        let clock = ManualClock(wall: Date(timeIntervalSince1970: 0))
        let task = Task { try await clock.sleep(for: .seconds(5)) }
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(by: 4)
        #expect(clock.sleeperCount == 1)
        clock.advance(by: 1)
        try await task.value
        #expect(clock.sleeperCount == 0)
        #expect(clock.wallSeconds == 5)
    }
}
