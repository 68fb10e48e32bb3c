/// A provider's agent: the preset it names and what the configuration put
/// beside it (`executable`, `args`), resolved once when the configuration
/// is read (SPEC section 7a).
public struct AgentSettings: Sendable, Equatable {
    public var preset: AgentPreset
    /// The program to run: the provider's `executable`, else the preset's.
    public var executable: String
    /// The provider's `args`, added to the preset's arguments.
    public var args: [String]
    public var mode: Provider.Mode

    public init(preset: AgentPreset, executable: String? = nil, args: [String] = [], mode: Provider.Mode? = nil) {
        self.preset = preset
        self.executable = executable ?? preset.executable
        self.args = args
        self.mode = mode ?? preset.defaultMode
    }

    /// The command line of a task: a new conversation, or with `resume` the
    /// next turn of that one (nil when the CLI cannot resume). A new
    /// conversation gets `newSession` as its id where the CLI takes one.
    /// In session mode there is no prompt in the command line: prompts go
    /// to standard input.
    public func argv(prompt: String, resume: String? = nil, newSession: String? = nil) -> [String]? {
        guard let invocation = preset.invocation(mode) else { return nil }
        if let resume {
            guard let template = invocation.resumeArguments else { return nil }
            return AgentPreset.expand(template, executable: executable, args: args, command: prompt, agentSession: resume)
        }
        return AgentPreset.expand(invocation.arguments, executable: executable, args: args, command: prompt,
                                  agentSession: newSession, newSession: preset.newSessionArguments)
    }

    /// The command line with `{command}` left in place, in the form an exec
    /// provider's `command` takes today.
    var commandTemplate: [String] {
        AgentPreset.expand(preset.invocation(mode)?.arguments ?? [], executable: executable, args: args)
    }

    /// The authentication check as a command: the CLI's status command, run
    /// only when none of the key variables is set, or a test that one is.
    /// Failures name what is missing so `auth.failed` says what to do.
    var authCommand: [String]? {
        func anySet(_ names: [String]) -> String { "test -n \"" + names.map { "${\($0)-}" }.joined() + "\"" }
        switch preset.authentication {
        case .command(let arguments, let variables):
            guard !variables.isEmpty else { return [executable] + arguments }
            return ["/bin/sh", "-c", anySet(variables) + " || exec \"$0\" \"$@\"", executable] + arguments
        case .anyVariable(let variables):
            let message = "\(preset.name.rawValue): none of \(variables.joined(separator: ", ")) is set"
            return ["/bin/sh", "-c", anySet(variables) + " || { echo \"\(message)\" >&2; exit 1; }"]
        case .none:
            return nil
        }
    }
}
