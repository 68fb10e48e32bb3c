import Testing
@testable import HopperCore

/// The byte-wise replacement behind an exec attempt's argv and shell quoting.
@Suite struct TextTests {
    @Test(arguments: [
        ("{command}", "echo hi"),
        ("-c{command}", "-cecho hi"),
        ("{command};{command}", "echo hi;echo hi"),
        ("{command", "{command"),
        ("", ""),
        ("plain", "plain"),
        ("{comm{command}and}", "{commecho hiand}"),
        ("é{command}ü", "éecho hiü"),
    ])
    func everyMarkerIsReplaced(_ text: String, _ expected: String) {
        #expect(text.replacingEvery("{command}", with: "echo hi") == expected)
    }

    @Test func theValueIsNotSearchedAgain() {
        #expect("a{x}b".replacingEvery("{x}", with: "{x}{x}") == "a{x}{x}b")
        #expect("''".replacingEvery("'", with: "'\\''") == #"'\'''\''"#)
    }

    @Test func anExecProviderRunsTheCommandInItsArgv() {
        let exec = Provider.builtIns["exec"]!
        #expect(exec.argv(running: "printf '%s' {command}") == ["/bin/sh", "-c", "printf '%s' {command}"])
    }

    @Test func shellQuotingSurvivesTheShell() {
        #expect(ShellQuote.quote("it's") == #"'it'\''s'"#)
        #expect(ShellQuote.quote("") == "''")
    }
}
