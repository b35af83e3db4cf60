import Foundation

/// A five-field cron expression, evaluated in UTC with Vixie cron's semantics.
///
/// Fields: minute (0–59), hour (0–23), day of month (1–31), month (1–12 or JAN–DEC),
/// day of week (0–7, 0 and 7 both Sunday, or SUN–SAT). Each field is a comma-separated
/// list of `*`, `N`, `N-M`, each optionally followed by `/STEP` (`N/STEP` means
/// `N-max/STEP`). Macros: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
/// (`@midnight`), `@hourly`, and `@every DURATION` (`@every 30s`, `@every 1h30m`; at least one
/// second): every DURATION counted from the Unix epoch, so that every agent finds the same due
/// times, where robfig/cron counts from when the job was added.
///
/// Day of month and day of week: when both fields are restricted (neither starts with
/// `*`), a day matches if **either** matches (Vixie's OR); otherwise both must match,
/// which in effect applies only the restricted one. Days that a month lacks (the 31st in
/// April, the 29th of February outside leap years) simply never match; an expression
/// that can never fire (`0 0 30 2 *`) is refused when parsed.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    let minutes: [Bool]   // 60
    let hours: [Bool]     // 24
    let days: [Bool]      // 32, index 1...31
    let months: [Bool]    // 13, index 1...12
    let weekdays: [Bool]  // 7, 0 = Sunday
    let dayOfMonthStar: Bool
    let dayOfWeekStar: Bool
    /// `@every`: the period in whole seconds; the fields above are then unused.
    let every: Int?

    public var description: String { text }

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(_ text: String) throws {
        self.text = text
        var source = text.trimmingCharacters(in: .whitespaces)
        if source.lowercased().hasPrefix("@every") {
            let duration = source.dropFirst("@every".count).trimmingCharacters(in: .whitespaces)
            guard let seconds = Self.seconds(duration), seconds >= 1 else {
                throw Self.error(text, "@every needs a duration of at least one second, such as 30s, 5m or 1h30m",
                                 remedy: "write @every DURATION with s, m, h or d units, e.g. \"@every 10m\"")
            }
            every = seconds
            (minutes, hours, days, months, weekdays) = ([], [], [], [], [])
            (dayOfMonthStar, dayOfWeekStar) = (true, true)
            return
        }
        every = nil
        if source.hasPrefix("@") {
            switch source.lowercased() {
            case "@yearly", "@annually": source = "0 0 1 1 *"
            case "@monthly": source = "0 0 1 * *"
            case "@weekly": source = "0 0 * * 0"
            case "@daily", "@midnight": source = "0 0 * * *"
            case "@hourly": source = "0 * * * *"
            default:
                throw Self.error(text, "unknown macro \(source)", remedy: "use @yearly, @monthly, @weekly, @daily, @hourly or @every DURATION, or five fields")
            }
        }
        let fields = source.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw Self.error(text, "expected 5 fields (minute hour day-of-month month day-of-week), found \(fields.count)",
                             remedy: "for example \"0 * * * *\" runs at the start of every hour (UTC)")
        }
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: nil, expression: text)
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: nil, expression: text)
        days = try Self.field(fields[2], name: "day of month", range: 1...31, names: nil, expression: text)
        months = try Self.field(fields[3], name: "month", range: 1...12, names: Self.monthNames, expression: text)
        var dow = try Self.field(fields[4], name: "day of week", range: 0...7, names: Self.dayNames, expression: text)
        if dow[7] { dow[0] = true }
        weekdays = Array(dow[0..<7])
        dayOfMonthStar = fields[2].hasPrefix("*")
        dayOfWeekStar = fields[4].hasPrefix("*")
        // Refuse expressions that can never fire: a day of month no chosen month has.
        if !dayOfMonthStar && dayOfWeekStar {
            let longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            let possible = (1...12).contains { m in months[m] && (1...longest[m]).contains { days[$0] } }
            if !possible {
                throw Self.error(text, "this schedule never fires: no chosen month has the chosen days",
                                 remedy: "check the day-of-month and month fields")
            }
        }
    }

    static func error(_ expression: String, _ message: String, remedy: String) -> DriftError {
        DriftError(.badConfig, "invalid cron expression \"\(expression)\": \(message)", remedy: remedy)
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String]?, expression: String) throws -> [Bool] {
        var set = [Bool](repeating: false, count: range.upperBound + 1)
        func value(_ s: Substring) throws -> Int {
            if let n = Int(s) {
                guard range.contains(n) else {
                    throw error(expression, "\(name) \(n) is out of range \(range.lowerBound)-\(range.upperBound)", remedy: "use a value in that range")
                }
                return n
            }
            if let names, let i = names.firstIndex(of: s.lowercased()) {
                return i + (range.lowerBound == 1 ? 1 : 0)
            }
            throw error(expression, "\"\(s)\" is not a valid \(name)",
                        remedy: names == nil ? "use a number" : "use a number or a name (\(names!.prefix(3).joined(separator: ", ")), …)")
        }
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw error(expression, "empty item in the \(name) field", remedy: "remove the extra comma") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw error(expression, "\"\(item)\" has more than one step", remedy: "write e.g. */15") }
            var step = 1
            if parts.count == 2 {
                guard let s = Int(parts[1]), s > 0 else {
                    throw error(expression, "step \"\(parts[1])\" in the \(name) field is not a positive number", remedy: "write e.g. */15")
                }
                step = s
            }
            let base = parts[0]
            var lo: Int, hi: Int
            if base == "*" {
                (lo, hi) = (range.lowerBound, range.upperBound)
                if name == "day of week" { hi = 6 }
            } else if let dash = base.firstIndex(of: "-") {
                lo = try value(base[base.startIndex..<dash])
                hi = try value(base[base.index(after: dash)...])
                guard lo <= hi else {
                    throw error(expression, "range \(base) in the \(name) field runs backwards", remedy: "write the smaller value first")
                }
            } else {
                lo = try value(base)
                hi = parts.count == 2 ? range.upperBound : lo
            }
            var v = lo
            while v <= hi {
                set[v] = true
                v += step
            }
        }
        return set
    }

    /// Whether a UTC calendar day matches the day fields.
    func dayMatches(year: Int, month: Int, day: Int, weekday: Int) -> Bool {
        guard months[month] else { return false }
        let dom = days[day], dow = weekdays[weekday]
        return (dayOfMonthStar || dayOfWeekStar) ? (dom && dow) : (dom || dow)
    }

    /// `30s`, `5m`, `1h30m`, `2d`: whole seconds, or nil. (The spec's `DurationText` is the core's;
    /// the engine may not import it, and a schedule takes whole seconds only.)
    static func seconds(_ text: String) -> Int? {
        var total = 0, number = "", sawUnit = false
        for c in text {
            if c.isASCII && c.isNumber {
                number.append(c)
                continue
            }
            let unit: Int
            switch c {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: return nil
            }
            guard let n = Int(number), n <= 1_000_000 else { return nil }
            total += n * unit
            number = ""
            sawUnit = true
        }
        return number.isEmpty && sawUnit ? total : nil
    }

    /// The first time strictly after `date` at which the expression fires (whole minutes, UTC;
    /// for `@every`, the next multiple of its period since the epoch).
    public func next(after date: Date) -> Date? {
        if let every {
            let period = Double(every)
            return Date(timeIntervalSince1970: ((date.timeIntervalSince1970 / period).rounded(.down) + 1) * period)
        }
        let t = Int((date.timeIntervalSince1970 / 60).rounded(.down)) + 1  // next whole minute
        var dayNumber = Int((Double(t) / 1440).rounded(.down))
        var minuteOfDay = t - dayNumber * 1440
        // Leap-day schedules repeat within 8 years; weekday combinations within 28.
        for _ in 0..<(366 * 29) {
            let (y, m, d) = CivilDate.fromDays(dayNumber)
            let weekday = ((dayNumber % 7) + 11) % 7  // 1970-01-01 was a Thursday (4)
            if dayMatches(year: y, month: m, day: d, weekday: weekday) {
                var minute = minuteOfDay
                while minute < 1440 {
                    let h = minute / 60, mi = minute % 60
                    if hours[h] {
                        if minutes[mi] {
                            return Date(timeIntervalSince1970: Double((dayNumber * 1440 + minute) * 60))
                        }
                        minute += 1
                    } else {
                        minute = (h + 1) * 60
                    }
                }
            }
            dayNumber += 1
            minuteOfDay = 0
        }
        return nil
    }
}

/// Proleptic Gregorian calendar arithmetic in UTC (Howard Hinnant's algorithms).
enum CivilDate {
    static func fromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func days(year y0: Int, month m: Int, day d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
