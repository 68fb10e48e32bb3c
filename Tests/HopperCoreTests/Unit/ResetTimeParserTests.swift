import Testing
@testable import HopperCore

/// Reset times in every form agent CLIs print them (agent-clis.md sections
/// 1.5, 2.5, 3.5 and 10), read against a fixed "now" with the machine's
/// zone files.
@Suite struct ResetTimeParserTests {
    let now = AgentTranscript.now
    let zones = AgentTranscript.zones

    private func reset(_ text: String, now: Timestamp? = nil, zones: ZoneLookup? = nil) -> Timestamp? {
        ResetTimeParser.reset(in: text, now: now ?? self.now, zones: zones ?? self.zones)
    }

    @Test func claudeLegacyEpochAfterABar() {
        #expect(reset("Claude AI usage limit reached|1755615600") == Timestamp(nanoseconds: 1_755_615_600_000_000_000))
    }

    @Test func epochFieldsInJSONBodies() {
        let codexBody = #"{"type":"error","error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":1777936568,"eligible_promo":null,"resets_in_seconds":13872},"status_code":429,"#
        #expect(reset(codexBody) == Timestamp(nanoseconds: 1_777_936_568_000_000_000), "resets_at wins over resets_in_seconds")
        #expect(reset(#"{"resetsAt":1774447200}"#) == Timestamp(nanoseconds: 1_774_447_200_000_000_000))
        #expect(reset(#""resets_in_seconds":13872"#) == now.adding(seconds: 13_872))
    }

    @Test func claudeRateLimitEventResetsAt() {
        #expect(ResetTimeParser.epochSeconds(.int(1_700_003_600)) == Timestamp(nanoseconds: 1_700_003_600_000_000_000))
        #expect(ResetTimeParser.epochSeconds(.double(1_774_447_200.5)) == Timestamp(nanoseconds: 1_774_447_200_500_000_000))
        #expect(ResetTimeParser.epochSeconds(.int(1_774_447_200_000)) == nil, "milliseconds are not seconds")
        #expect(ResetTimeParser.epochSeconds(.string("soon")) == nil)
        #expect(ResetTimeParser.epochSeconds(nil) == nil)
    }

    @Test func claudeResetsAtAWallClockTimeInAnIANAZone() {
        // December: Lisbon is on UTC, Jerusalem UTC+2, Paris UTC+1.
        #expect(reset("You've hit your limit · resets 1pm (Europe/Lisbon)") == instant("2026-12-03T13:00:00Z"))
        #expect(reset("You've hit your session limit · resets 5:30pm (Asia/Jerusalem)") == instant("2026-12-03T15:30:00Z"))
        #expect(reset("You've hit your session limit · resets 11pm (Europe/Paris)") == instant("2026-12-03T22:00:00Z"))
    }

    @Test func summerTimeIsTakenFromTheZone() {
        let july = instant("2026-07-01T10:00:00Z")
        #expect(reset("You've hit your limit · resets 1pm (Europe/Lisbon)", now: july) == instant("2026-07-01T12:00:00Z"))
    }

    @Test func aTimeLongPastTodayIsTomorrows() {
        // 1am Lisbon was ten hours ago: a five-hour window that resets after midnight.
        #expect(reset("You've hit your limit · resets 1am (Europe/Lisbon)") == instant("2026-12-04T01:00:00Z"))
        // Half an hour ago is still today's: the limit has just lifted.
        #expect(reset("You've hit your limit · resets 10:30am (Europe/Lisbon)") == instant("2026-12-03T10:30:00Z"))
    }

    @Test func claudeWeeklyLimitWithADate() {
        // February 7th has passed this year: next year's, 11am Seoul (UTC+9).
        let text = "You've hit your limit - resets Feb 7, 11am (Asia/Seoul)/login to switch to an API usage-billed account."
        #expect(reset(text) == instant("2027-02-07T02:00:00Z"))
        #expect(reset("You've hit your weekly limit · resets Dec 5, 9am (Asia/Seoul)") == instant("2026-12-05T00:00:00Z"))
    }

    @Test func anUnknownZoneGivesNoReset() {
        #expect(reset("You've hit your limit · resets 1pm (Mars/Olympus_Mons)") == nil)
        #expect(reset("You've hit your limit · resets 1pm (../../etc/passwd)") == nil)
    }

    @Test func codexTryAgainAtIsLocalTime() {
        #expect(reset("You've hit your usage limit. To get more access now, send a request to your admin or try again at 12:16 PM.")
            == instant("2026-12-03T12:16:00Z"))
        // The real binary's wording has a curly apostrophe.
        #expect(reset("You’ve hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing), visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 4:35 PM.")
            == instant("2026-12-03T16:35:00Z"))
        let newYork = ZoneLookup.system(tz: "America/New_York")
        #expect(reset("Try again at 12:16 PM.", zones: newYork) == instant("2026-12-03T17:16:00Z"), "EST is UTC-5")
        let posix = ZoneLookup(local: ZoneRules.local(tz: "EST5EDT,M3.2.0,M11.1.0"), named: { _ in nil })
        #expect(reset("try again at 12:16 AM.", zones: posix) == instant("2026-12-04T05:16:00Z"), "12 AM is midnight, past: tomorrow's")
    }

    @Test func codexTryAgainAtWithADate() {
        #expect(reset("You've hit your usage limit. Try again at Dec 4th, 2026 9:05 AM.") == instant("2026-12-04T09:05:00Z"))
        #expect(reset("You've hit your usage limit. Try again at Jan 1st, 2027 12:00 PM.") == instant("2027-01-01T12:00:00Z"))
        #expect(reset("You've hit your usage limit. Try again at Feb 30th, 2027 12:00 PM.") == nil, "no such day")
    }

    @Test func relativeForms() {
        #expect(reset("Please retry in 37s") == now.adding(seconds: 37))
        #expect(reset("[API Error: You exceeded your current quota. Please retry in 11.161852119s.]") == now.adding(seconds: 11.161852119))
        #expect(reset("Quota exceeded for quota metric. Suggested retry after 60s.") == now.adding(seconds: 60))
        #expect(reset("You've hit your usage limit. Please try again in 2 days 17 hours 14 minutes.")
            == now.adding(seconds: 2 * 86_400 + 17 * 3600 + 14 * 60))
        #expect(reset("rate limited; retry after 1h 30m") == now.adding(seconds: 5400))
        #expect(reset("retry in 1 minute and 5 seconds") == now.adding(seconds: 65))
    }

    @Test func rfc3339() {
        #expect(reset("limited until 2026-12-03T14:00:00Z") == instant("2026-12-03T14:00:00Z"))
        #expect(reset("resets at 2026-12-03T14:00:00+01:00") == instant("2026-12-03T13:00:00Z"))
    }

    @Test(arguments: [
        "Limit reached – contact an admin to keep working",
        "API Error: Rate limit reached",
        "Quota exceeded. Check your plan and billing details.",
        "You have exhausted your daily quota on this model.",
        "The API provider has rate limited you. Try again later or check your quotas.",
        #"429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit. Please try again later."},"request_id":"req_1"}"#,
        "resets soon",
    ])
    func messagesWithoutAResetGiveNil(text: String) {
        #expect(reset(text) == nil)
    }
}

/// Time zone rules from the system's TZif files and from POSIX TZ strings.
@Suite struct ZoneRulesTests {
    private func seconds(_ text: String) -> Int64 { instant(text).nanoseconds / 1_000_000_000 }

    @Test func lisbonFromItsZoneFile() throws {
        let lisbon = try #require(ZoneRules.load(named: "Europe/Lisbon"))
        #expect(lisbon.offset(atUTC: seconds("2026-07-01T00:00:00Z")) == 3600)
        #expect(lisbon.offset(atUTC: seconds("2026-12-01T00:00:00Z")) == 0)
        // Past the file's transitions the footer rule applies.
        #expect(lisbon.offset(atUTC: seconds("2100-07-01T00:00:00Z")) == 3600)
        #expect(lisbon.offset(atUTC: seconds("2100-12-01T00:00:00Z")) == 0)
    }

    @Test func posixRuleChangesAtTheRightSecond() throws {
        let rule = try #require(PosixZoneRule("WET0WEST,M3.5.0/1,M10.5.0"))
        // Last Sunday of March 2026 is the 29th, at 01:00 UTC; of October the 25th, at 02:00 WEST.
        #expect(rule.offset(atUTC: seconds("2026-03-29T00:59:59Z")) == 0)
        #expect(rule.offset(atUTC: seconds("2026-03-29T01:00:00Z")) == 3600)
        #expect(rule.offset(atUTC: seconds("2026-10-25T00:59:59Z")) == 3600)
        #expect(rule.offset(atUTC: seconds("2026-10-25T01:00:00Z")) == 0)
    }

    @Test func southernHemisphereRule() throws {
        let sydney = try #require(PosixZoneRule("AEST-10AEDT,M10.1.0,M4.1.0/3"))
        #expect(sydney.offset(atUTC: seconds("2026-01-15T00:00:00Z")) == 39_600)
        #expect(sydney.offset(atUTC: seconds("2026-07-15T00:00:00Z")) == 36_000)
        let fixed = try #require(PosixZoneRule("<+03>-3"))
        #expect(fixed.offset(atUTC: 0) == 10_800)
        #expect(PosixZoneRule("") == nil)
        #expect(PosixZoneRule("XY1") == nil, "names have three letters at least")
    }

    @Test func localTimesInGapsAndOverlaps() throws {
        let lisbon = try #require(ZoneRules.load(named: "Europe/Lisbon"))
        func local(_ text: String) -> Int64 { seconds(text) } // a wall-clock time written as if UTC
        // 01:30 on 2026-03-29 never happens in Lisbon: read with the offset before the change.
        #expect(lisbon.utc(fromLocal: local("2026-03-29T01:30:00Z")) == seconds("2026-03-29T01:30:00Z"))
        // 01:30 on 2026-10-25 happens twice: the first one, in summer time.
        #expect(lisbon.utc(fromLocal: local("2026-10-25T01:30:00Z")) == seconds("2026-10-25T00:30:00Z"))
        #expect(lisbon.utc(fromLocal: local("2026-07-01T12:00:00Z")) == seconds("2026-07-01T11:00:00Z"))
    }

    @Test func zoneNamesCannotLeaveTheZoneDirectory() {
        #expect(ZoneRules.isZoneName("Europe/Lisbon"))
        #expect(ZoneRules.isZoneName("America/Argentina/Buenos_Aires"))
        #expect(ZoneRules.isZoneName("Etc/GMT+3"))
        for bad in ["../etc/passwd", "/etc/localtime", "Europe//Lisbon", "Europe/..", "", "Europe/Lisbon/", "a b"] {
            #expect(!ZoneRules.isZoneName(bad), "\(bad)")
        }
        #expect(ZoneRules.load(named: "../../../etc/hostname") == nil)
    }

    @Test func notTZifDataIsRejected() {
        #expect(ZoneRules(tzif: Array("TZif".utf8)) == nil)
        #expect(ZoneRules(tzif: []) == nil)
        #expect(ZoneRules(tzif: Array(repeating: 0, count: 100)) == nil)
    }
}
