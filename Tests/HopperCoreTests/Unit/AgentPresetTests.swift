import Testing
@testable import HopperCore

/// The provider key `agent` (SPEC section 7a): presets resolved into a
/// provider, `executable` and `args` applied, command lines for new and
/// continued conversations, and errors that name the key.
@Suite struct AgentPresetTests {
    private func provider(_ body: String, named name: String = "p") throws -> Provider {
        let c = try Configuration(json: try JSONParser.parse(#"{"providers": {"\#(name)": \#(body)}}"#))
        return try #require(c.providers[name])
    }

    @Test func theSpecSampleDecodes() throws {
        let c = try Configuration(json: try JSONParser.parse(#"""
        {"providers": {
          "claude": { "agent": "claude", "max_sessions": 2, "secrets": ["ANTHROPIC_API_KEY"] },
          "codex":  { "agent": "codex",  "max_sessions": 4, "args": ["--model", "gpt-5-codex"],
                      "budget": { "usd_per_day": 50 } },
          "gemini": { "agent": "gemini", "executable": "/opt/gemini/bin/gemini" }
        }}
        """#))
        let claude = try #require(c.providers["claude"])
        #expect(claude.mode == .session && claude.wireProtocol == .jsonl && claude.maxSessions == 2)
        #expect(claude.command == ["claude", "-p", "--input-format", "stream-json", "--output-format", "stream-json",
                                   "--verbose", "--dangerously-skip-permissions"])
        #expect(claude.secrets.contains("ANTHROPIC_API_KEY") && claude.secrets.contains("CLAUDE_CODE_OAUTH_TOKEN"))
        let codex = try #require(c.providers["codex"])
        #expect(codex.mode == .exec && codex.maxSessions == 4)
        #expect(codex.command == ["codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write",
                                  "--model", "gpt-5-codex", "--", "{command}"])
        #expect(codex.budgetUSDPerDay == 50)
        let gemini = try #require(c.providers["gemini"])
        #expect(gemini.command.first == "/opt/gemini/bin/gemini")
        #expect(gemini.command.suffix(2) == ["-p", "{command}"])
        for p in [claude, codex, gemini] {
            #expect(c.idleOutputTimeout(for: p) == 600, "\(p.name)")
        }
        #expect(c.idleOutputTimeout(for: try #require(c.providers["sh"])) == 0, "no idle limit unless asked")
    }

    @Test func everyPresetResolves() throws {
        for name in AgentPreset.Name.allCases {
            let p = try provider(#"{"agent": "\#(name.rawValue)"}"#)
            let preset = AgentPreset.preset(name)
            #expect(p.agent?.preset == preset)
            #expect(p.mode == preset.defaultMode, "\(name)")
            #expect(p.command.first == preset.executable)
            if p.mode == .exec {
                #expect(p.command.contains("{command}"), "\(name): the exec runner needs the prompt's place")
            } else {
                #expect(!p.command.contains("{command}"), "\(name): a session takes prompts on stdin")
            }
            #expect(!p.command.contains { $0.hasPrefix("{") && $0 != "{command}" }, "\(name): no marker left: \(p.command)")
            #expect(preset.idleOutputTimeout == 600)
        }
    }

    @Test func authenticationChecks() throws {
        let claude = try provider(#"{"agent": "claude"}"#)
        #expect(claude.auth?.command == ["/bin/sh", "-c", #"test -n "${ANTHROPIC_API_KEY-}${CLAUDE_CODE_OAUTH_TOKEN-}" || exec "$0" "$@""#,
                                         "claude", "auth", "status"])
        let codex = try provider(#"{"agent": "codex", "executable": "/opt/codex"}"#)
        #expect(codex.auth?.command?.suffix(3) == ["/opt/codex", "login", "status"], "the status command uses the configured program")
        let gemini = try provider(#"{"agent": "gemini"}"#)
        #expect(gemini.auth?.command?.last?.contains("none of GEMINI_API_KEY, GOOGLE_API_KEY") == true)
        #expect(try provider(#"{"agent": "aider"}"#).auth == nil, "aider has nothing to ask")
        let own = try provider(#"{"agent": "claude", "auth": {"command": ["/bin/true"]}}"#)
        #expect(own.auth?.command == ["/bin/true"], "a given auth replaces the preset's")
    }

    @Test func aPresetMayRunInItsOtherMode() throws {
        let claude = try provider(#"{"agent": "claude", "mode": "exec"}"#)
        #expect(claude.mode == .exec)
        #expect(claude.command.suffix(2) == ["--", "{command}"])
        #expect(claude.command.contains("--verbose"))
    }

    @Test func commandLinesForNewAndContinuedConversations() throws {
        let codex = AgentSettings(preset: .preset(.codex), args: ["-m", "o3"])
        // The argv run against the real codex 0.163.0 binary.
        #expect(codex.argv(prompt: "again", resume: "01a23bbf-9761-7d41-8e13-3771840b3250") ==
                ["codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "-m", "o3",
                 "resume", "01a23bbf-9761-7d41-8e13-3771840b3250", "--", "again"])
        let claude = AgentSettings(preset: .preset(.claude))
        #expect(claude.argv(prompt: "ignored", resume: "s-1")?.suffix(2) == ["--resume", "s-1"])
        let copilot = AgentSettings(preset: .preset(.copilot))
        #expect(copilot.argv(prompt: "fix it", newSession: "0f8fad5b-d9cb-469f-a165-70867728950e") ==
                ["copilot", "-s", "--allow-all-tools", "--no-ask-user", "--session-id", "0f8fad5b-d9cb-469f-a165-70867728950e", "-p", "fix it"])
        #expect(copilot.argv(prompt: "fix it") == ["copilot", "-s", "--allow-all-tools", "--no-ask-user", "-p", "fix it"])
        #expect(copilot.argv(prompt: "more", resume: "abc")?.suffix(4) == ["--resume", "abc", "-p", "more"])
        let amp = AgentSettings(preset: .preset(.amp))
        #expect(amp.argv(prompt: "", resume: "T-1")?.prefix(4) == ["amp", "threads", "continue", "T-1"])
        #expect(AgentSettings(preset: .preset(.aider)).argv(prompt: "x", resume: "any") == nil, "aider has no conversation id")
        // The prompt stays one element whatever it holds.
        let gemini = AgentSettings(preset: .preset(.gemini))
        #expect(gemini.argv(prompt: "a b; rm -rf {args}")?.last == "a b; rm -rf {args}")
    }

    @Test func anExplicitIdleOutputAppliesToEveryProvider() throws {
        let c = try Configuration(json: try JSONParser.parse(#"{"timeouts": {"command": {"idle_output": 0}}, "providers": {"c": {"agent": "codex"}}}"#))
        #expect(c.idleOutputTimeout(for: try #require(c.providers["c"])) == 0)
        let d = try Configuration(json: try JSONParser.parse(#"{"timeouts": {"command": {"idle_output": 30}}}"#))
        #expect(d.idleOutputTimeout(for: try #require(d.providers["sh"])) == 30)
    }

    static let rejections: [ConfigRejection] = [
        .init(#"{"providers": {"p": {"agent": "claud"}}}"#, .invalidField, "providers.p.agent"),
        .init(#"{"providers": {"p": {"agent": 1}}}"#, .invalidField, "providers.p.agent"),
        .init(#"{"providers": {"p": {"agent": "claude", "command": ["claude"]}}}"#, .invalidField, "providers.p.command"),
        .init(#"{"providers": {"p": {"agent": "claude", "protocol": "jsonl"}}}"#, .invalidField, "providers.p.protocol"),
        .init(#"{"providers": {"p": {"agent": "codex", "mode": "session"}}}"#, .invalidField, "providers.p.mode"),
        .init(#"{"providers": {"p": {"agent": "codex", "executable": ""}}}"#, .invalidField, "providers.p.executable"),
        .init(#"{"providers": {"p": {"agent": "codex", "args": "--model o3"}}}"#, .invalidField, "providers.p.args"),
        .init(#"{"providers": {"p": {"agent": "codex", "args": ["-m", 3]}}}"#, .invalidField, "providers.p.args[1]"),
        .init(#"{"providers": {"p": {"command": ["x", "{command}"], "executable": "y"}}}"#, .invalidField, "providers.p.executable"),
        .init(#"{"providers": {"p": {"command": ["x", "{command}"], "args": []}}}"#, .invalidField, "providers.p.args"),
        .init(#"{"providers": {"p": {"agent": "codex", "budget": {"usd_per_day": 0}}}}"#, .invalidField, "providers.p.budget.usd_per_day"),
        .init(#"{"providers": {"p": {"agent": "codex", "budget": {"usd": 5}}}}"#, .unknownField, "providers.p.budget.usd"),
        .init(#"{"providers": {"p": {"agent": "codex", "colour": 1}}}"#, .unknownField, "providers.p.colour"),
        .init(#"{"timeouts": {"command": {"idle_output": -1}}}"#, .invalidField, "timeouts.command.idle_output"),
    ]

    @Test(arguments: rejections)
    func rejectsNamingTheKeyPath(_ c: ConfigRejection) throws {
        do {
            _ = try Configuration(json: try JSONParser.parse(c.json))
            Issue.record("accepted \(c.json)")
        } catch let error as HopperError {
            #expect(error.code == c.code, "\(error.message)")
            #expect(error.field == c.field, "\(error.message)")
            #expect(error.message.contains("\"\(c.field)\""), "message does not name \(c.field): \(error.message)")
        }
    }

    @Test func anUnknownAgentListsThePresets() throws {
        do {
            _ = try Configuration(json: try JSONParser.parse(#"{"providers": {"p": {"agent": "claud"}}}"#))
            Issue.record("accepted")
        } catch let error as HopperError {
            #expect(error.message == #"key "providers.p.agent": expected one of claude, codex, gemini, cursor, opencode, copilot, amp, aider, got "claud""#)
        }
    }
}

/// `hopper init --agent NAME`: the sample configuration gains a provider for the preset.
@Suite struct InitAgentTests {
    @Test func theSampleWithAnAgentDecodes() throws {
        for name in AgentPreset.Name.allCases {
            let text = InitCommand.sampleConfiguration(agent: .preset(name))
            let c = try Configuration(json: try JSONParser.parse(text))
            let p = try #require(c.providers[name.rawValue], "\(name)")
            #expect(p.agent?.preset.name == name)
            #expect(c.providers["sh"] != nil && c.providers["exec"] != nil)
        }
        #expect(InitCommand.sampleConfiguration(agent: nil) == InitCommand.sampleConfiguration)
    }
}
