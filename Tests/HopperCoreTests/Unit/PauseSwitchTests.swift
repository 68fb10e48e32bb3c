import Testing
@testable import HopperCore

struct PauseSwitchTests {
    @Test func observeReportsEachChangeOnceAndHoldsAnswersForALL() {
        var p = PauseSwitch()
        #expect(!p.holds("sh"))
        #expect(p.observe(["sh"]) == [.paused("sh")])
        #expect(p.observe(["sh"]) == [], "the same listing changes nothing")
        #expect(p.holds("sh") && !p.holds("exec"))
        #expect(p.observe(["ALL", "sh"]) == [.paused("ALL")])
        #expect(p.holds("exec") && p.isAllPaused)
        #expect(p.sorted == ["ALL", "sh"])
        #expect(p.observe(["exec"]) == [.paused("exec"), .resumed("ALL"), .resumed("sh")])
        #expect(!p.holds("sh") && p.holds("exec"))
        #expect(p.observe([]) == [.resumed("exec")])
    }

    @Test func onlyALLAndProviderNamesCount() {
        #expect(PauseFiles.isValid("ALL") && PauseFiles.isValid("claude") && PauseFiles.isValid("my.provider-2"))
        #expect(!PauseFiles.isValid(".hidden") && !PauseFiles.isValid("") && !PauseFiles.isValid("a b") && !PauseFiles.isValid("../x"))
    }
}
