import Foundation
import Testing

@testable import DriftMonitor

func utc(_ text: String) -> Date {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.date(from: text)!
}

@Suite struct CronExpressionTests {
    func next(_ expr: String, _ after: String) throws -> String? {
        let f = ISO8601DateFormatter()
        return try CronExpression(expr).next(after: utc(after)).map { f.string(from: $0) }
    }

    @Test func stepsListsAndRanges() throws {
        #expect(try next("*/15 * * * *", "2026-11-22T10:07:00Z") == "2026-11-22T10:15:00Z")
        #expect(try next("*/15 * * * *", "2026-11-22T10:15:00Z") == "2026-11-22T10:30:00Z")
        #expect(try next("5,35 1-3 * * *", "2026-11-22T03:40:00Z") == "2026-11-23T01:05:00Z")
        #expect(try next("10-50/20 * * * *", "2026-11-22T10:31:00Z") == "2026-11-22T10:50:00Z")
        #expect(try next("0 12 * jan,JUL sun", "2026-11-22T00:00:00Z") == "2027-01-03T12:00:00Z")
        #expect(try next("0 9 * * mon-fri", "2026-11-21T10:00:00Z") == "2026-11-23T09:00:00Z")
    }

    @Test func macros() throws {
        #expect(try next("@hourly", "2026-11-22T10:07:30Z") == "2026-11-22T11:00:00Z")
        #expect(try next("@daily", "2026-11-22T10:07:00Z") == "2026-11-23T00:00:00Z")
        #expect(try next("@weekly", "2026-11-22T00:00:00Z") == "2026-11-29T00:00:00Z")  // Sundays
        #expect(try next("@monthly", "2026-12-15T00:00:00Z") == "2027-01-01T00:00:00Z")
        #expect(try next("@yearly", "2026-11-22T00:00:00Z") == "2027-01-01T00:00:00Z")
    }

    /// `@every` counts from the epoch, so agents started at different times agree on the due times.
    @Test func everyDurationCountsFromTheEpoch() throws {
        #expect(try next("@every 30s", "2026-11-22T10:07:10Z") == "2026-11-22T10:07:30Z")
        #expect(try next("@every 30s", "2026-11-22T10:07:30Z") == "2026-11-22T10:08:00Z")
        #expect(try next("@every 1h30m", "2026-11-22T10:07:00Z") == "2026-11-22T10:30:00Z")
        #expect(try next("@EVERY 2d", "2026-11-22T10:07:00Z") == "2026-11-23T00:00:00Z")
        let seven = try CronExpression("@every 7s")
        let a = seven.next(after: utc("2026-11-22T10:07:00Z"))!, b = seven.next(after: a.addingTimeInterval(-0.5))!
        #expect(a == b && a.timeIntervalSince1970.truncatingRemainder(dividingBy: 7) == 0)
        for bad in ["@every", "@every 0s", "@every 5", "@every 5x", "@every s", "@every -5s"] {
            #expect(throws: DriftError.self, "\(bad)") { _ = try CronExpression(bad) }
        }
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothRestricted() throws {
        // The 15th OR any Friday (Vixie): after Friday 13 Nov 2026 comes Sunday the 15th, then Friday the 20th.
        #expect(try next("0 0 15 * 5", "2026-11-13T00:00:00Z") == "2026-11-15T00:00:00Z")
        #expect(try next("0 0 15 * 5", "2026-11-15T00:00:00Z") == "2026-11-20T00:00:00Z")
        // Day of week unrestricted: only the 15th.
        #expect(try next("0 0 15 * *", "2026-11-15T00:00:00Z") == "2026-12-15T00:00:00Z")
        // A day-of-month field starting with * counts as unrestricted (Vixie), so both must match:
        // odd days that are Mondays.
        #expect(try next("0 0 */2 * 1", "2026-11-23T00:00:00Z") == "2026-12-07T00:00:00Z")
        // 7 is Sunday too.
        #expect(try next("0 0 * * 7", "2026-11-22T00:00:00Z") == "2026-11-29T00:00:00Z")
    }

    @Test func monthEndsAndLeapYears() throws {
        #expect(try next("0 0 31 * *", "2026-04-01T00:00:00Z") == "2026-05-31T00:00:00Z")
        #expect(try next("0 0 29 2 *", "2025-03-01T00:00:00Z") == "2028-02-29T00:00:00Z")
        #expect(try next("0 0 29 2 *", "2028-02-29T00:00:00Z") == "2032-02-29T00:00:00Z")
        #expect(try next("0 0 29 2 *", "2096-03-01T00:00:00Z") == "2104-02-29T00:00:00Z")  // 2100 is not a leap year
        #expect(try next("59 23 31 12 *", "2026-12-31T23:59:00Z") == "2027-12-31T23:59:00Z")
        #expect(try next("0 0 30 * *", "2027-01-31T00:00:00Z") == "2027-03-30T00:00:00Z")  // no 30 February
    }

    @Test(arguments: ["60 * * * *", "* * *", "0 0 30 2 *", "@reboot", "5-1 * * * *", "*/0 * * * *", "0 0 * foo *", "0 24 * * *", "1,,2 * * * *"])
    func badExpressionsAreRefused(_ expr: String) {
        #expect(throws: DriftError.self) { try CronExpression(expr) }
    }

    @Test func errorSaysWhatIsWrong() {
        do {
            _ = try CronExpression("0 0 30 2 *")
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains("never fires"))
        }
    }
}
