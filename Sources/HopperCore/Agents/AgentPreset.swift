/// What Hopper knows about running one agent CLI unattended (SPEC section
/// 7a): its program, the arguments that make it non-interactive and stop it
/// asking for permission, how the prompt reaches it, how a conversation is
/// resumed, how credentials are checked, and which adapter reads its output.
///
/// Data, not behaviour: a provider with `agent` starts from its preset and
/// every key given beside it overrides the preset's. The facts behind each
/// entry are in `../shared/agent-clis.md`; the project documents them in
/// docs/agents.md.
///
/// Argument templates hold whole-element markers: `{args}` is replaced by
/// the provider's `args` (spliced in), `{command}` by the task's prompt
/// (one element, never re-split), `{agent_session}` by the conversation id
/// being resumed, and `{new_session}` by `newSessionArguments` when Hopper
/// chooses a new conversation's id (nothing otherwise).
public struct AgentPreset: Sendable, Equatable {
    public enum Name: String, Sendable, CaseIterable {
        case claude, codex, gemini, cursor, opencode, copilot, amp, aider
    }

    /// How the CLI's credentials are checked before a session's first task.
    public enum Authentication: Sendable, Equatable {
        /// The CLI's own status command (arguments after the executable);
        /// exit 0 means authenticated. Skipped when one of `orAnyOf` is set,
        /// since status commands only know stored logins.
        case command([String], orAnyOf: [String])
        /// One of these environment variables must be set.
        case anyVariable([String])
        /// The CLI has no way to ask; the first run tells.
        case none
    }

    /// The command line of one way to run the CLI.
    public struct Invocation: Sendable, Equatable {
        /// A task's new conversation. Exec mode carries `{command}`; session
        /// mode writes each prompt to standard input as a stream-JSON line.
        public var arguments: [String]
        /// The next turn of the conversation `{agent_session}`; nil when the
        /// CLI cannot resume one.
        public var resumeArguments: [String]?
    }

    public var name: Name
    /// The program, looked up on PATH unless the provider's `executable` says otherwise.
    public var executable: String
    /// The mode a provider of this agent runs in unless it says `mode`.
    public var defaultMode: Provider.Mode
    /// One process per task, standard input closed.
    public var exec: Invocation?
    /// One long-lived process, prompts as stream-JSON lines on standard input.
    public var session: Invocation?
    /// Arguments that give a new conversation an id chosen by Hopper, for a
    /// CLI that does not print its own where Hopper can read it (nil: the
    /// CLI reports its id).
    public var newSessionArguments: [String]?
    public var authentication: Authentication
    /// Environment variables that hold credentials: masked as secrets.
    public var keyVariables: [String]
    /// Where the CLI keeps its login; one per session avoids the
    /// refresh-token race of a shared login (nil: no such caveat known).
    public var configDirectoryVariable: String?
    /// Extra environment needed when the daemon runs as root.
    public var rootEnvironment: [String: String] = [:]
    /// `timeouts.command.idle_output` for this agent's tasks: an agent
    /// silent this long is hung (several CLIs are known to hang without output).
    public var idleOutputTimeout: Double = 600

    /// The adapter that reads this CLI's output. `session` is the id chosen
    /// for a CLI that cannot report its own. `continuing` is the `result` of
    /// the record a `continue` task follows, when it runs in a new process:
    /// Claude Code carries its cost total over a resume and Codex its
    /// thread's usage, so the new task's figures are differences from it.
    public func makeAdapter(zones: ZoneLookup, session: String? = nil, continuing: JSONValue? = nil) -> any AgentAdapter {
        let previous = continuing?.objectValue
        switch name {
        case .claude: return ClaudeAdapter(zones: zones, runningTotal: previous?["total_cost_usd"]?.doubleValue)
        case .amp: return AmpAdapter(zones: zones)
        case .codex: return CodexAdapter(zones: zones, usageBefore: AgentUsage.from(previous?["usage"]))
        case .gemini: return GeminiAdapter(zones: zones)
        case .cursor: return CursorAdapter(zones: zones)
        case .opencode: return OpencodeAdapter(zones: zones)
        case .copilot: return CopilotAdapter(zones: zones, session: session)
        case .aider: return AiderAdapter(zones: zones)
        }
    }

    /// The invocation for `mode`, nil when the CLI cannot run that way.
    public func invocation(_ mode: Provider.Mode) -> Invocation? { mode == .session ? session : exec }

    /// The argv for a task: the executable, then `template` with the markers
    /// replaced. `command` nil keeps `{command}` for the exec runner to fill.
    public static func expand(_ template: [String], executable: String, args: [String], command: String? = nil,
                              agentSession: String? = nil, newSession: [String]? = nil) -> [String] {
        var argv = [executable]
        for element in template {
            switch element {
            case "{args}": argv += args
            case "{new_session}":
                if let newSession, let agentSession { argv += newSession.map { $0 == "{agent_session}" ? agentSession : $0 } }
            case "{command}": argv.append(command ?? element)
            case "{agent_session}": argv.append(agentSession ?? element)
            default: argv.append(element)
            }
        }
        return argv
    }

    public static func named(_ name: String) -> AgentPreset? { Name(rawValue: name).map(preset) }

    /// The built-in presets.
    public static func preset(_ name: Name) -> AgentPreset {
        switch name {
        case .claude:
            // `--verbose` is required with stream-json output in -p mode (it exits 1 without).
            let stream = ["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
                          "--dangerously-skip-permissions", "{args}"]
            let once = ["-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions", "{args}"]
            return AgentPreset(
                name: .claude, executable: "claude", defaultMode: .session,
                exec: Invocation(arguments: once + ["--", "{command}"],
                                 resumeArguments: once + ["--resume", "{agent_session}", "--", "{command}"]),
                session: Invocation(arguments: stream, resumeArguments: stream + ["--resume", "{agent_session}"]),
                authentication: .command(["auth", "status"], orAnyOf: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]),
                keyVariables: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
                configDirectoryVariable: "CLAUDE_CONFIG_DIR",
                rootEnvironment: ["IS_SANDBOX": "1"])
        case .amp:
            let stream = ["--execute", "--stream-json", "--stream-json-input", "--dangerously-allow-all", "{args}"]
            let once = ["--stream-json", "--dangerously-allow-all", "{args}", "--execute", "{command}"]
            return AgentPreset(
                name: .amp, executable: "amp", defaultMode: .session,
                exec: Invocation(arguments: once, resumeArguments: ["threads", "continue", "{agent_session}"] + once),
                session: Invocation(arguments: stream, resumeArguments: ["threads", "continue", "{agent_session}"] + stream),
                authentication: .anyVariable(["AMP_API_KEY"]),
                keyVariables: ["AMP_API_KEY"])
        case .codex:
            // Parent flags go before `resume`: the resume subcommand has no --sandbox of its own.
            let flags = ["exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "{args}"]
            return AgentPreset(
                name: .codex, executable: "codex", defaultMode: .exec,
                exec: Invocation(arguments: flags + ["--", "{command}"],
                                 resumeArguments: flags + ["resume", "{agent_session}", "--", "{command}"]),
                authentication: .command(["login", "status"], orAnyOf: ["CODEX_API_KEY", "OPENAI_API_KEY"]),
                keyVariables: ["CODEX_API_KEY", "OPENAI_API_KEY"],
                configDirectoryVariable: "CODEX_HOME")
        case .gemini:
            let flags = ["-o", "stream-json", "--yolo", "--skip-trust", "{args}"]
            return AgentPreset(
                name: .gemini, executable: "gemini", defaultMode: .exec,
                exec: Invocation(arguments: flags + ["-p", "{command}"],
                                 resumeArguments: flags + ["--resume", "{agent_session}", "-p", "{command}"]),
                authentication: .anyVariable(["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA"]),
                keyVariables: ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
        case .cursor:
            let flags = ["-p", "--output-format", "stream-json", "--force", "--trust", "{args}"]
            return AgentPreset(
                name: .cursor, executable: "cursor-agent", defaultMode: .exec,
                exec: Invocation(arguments: flags + ["{command}"],
                                 resumeArguments: flags + ["--resume", "{agent_session}", "{command}"]),
                authentication: .command(["status"], orAnyOf: ["CURSOR_API_KEY"]),
                keyVariables: ["CURSOR_API_KEY"])
        case .opencode:
            let flags = ["run", "--format", "json", "--auto", "{args}"]
            return AgentPreset(
                name: .opencode, executable: "opencode", defaultMode: .exec,
                exec: Invocation(arguments: flags + ["--", "{command}"],
                                 resumeArguments: flags + ["--session", "{agent_session}", "--", "{command}"]),
                authentication: .none,
                keyVariables: [])
        case .copilot:
            let flags = ["-s", "--allow-all-tools", "--no-ask-user", "{args}"]
            return AgentPreset(
                name: .copilot, executable: "copilot", defaultMode: .exec,
                exec: Invocation(arguments: flags + ["{new_session}", "-p", "{command}"],
                                 resumeArguments: flags + ["--resume", "{agent_session}", "-p", "{command}"]),
                newSessionArguments: ["--session-id", "{agent_session}"],
                authentication: .anyVariable(["COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"]),
                keyVariables: ["COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"])
        case .aider:
            return AgentPreset(
                name: .aider, executable: "aider", defaultMode: .exec,
                exec: Invocation(arguments: ["--yes-always", "--no-stream", "--no-auto-commits", "--no-pretty", "{args}",
                                             "--message", "{command}"],
                                 resumeArguments: nil),
                authentication: .none,
                keyVariables: [])
        }
    }
}
