/// Tokens a task used, as the CLI reported them: the record's `usage`
/// (SPEC section 7a). CLIs name these differently (`input_tokens`,
/// `tokens.input`, `2.3k sent`); adapters translate.
public struct AgentUsage: Sendable, Equatable {
    public var inputTokens: Int64
    public var outputTokens: Int64

    public init(inputTokens: Int64, outputTokens: Int64) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }

    /// `{"input_tokens": N, "output_tokens": N}`, as records carry it.
    public var json: JSONValue {
        .object(JSONObject([("input_tokens", .int(inputTokens)), ("output_tokens", .int(outputTokens))]))
    }

    /// Reads `input_tokens`/`output_tokens` (Claude, Codex, Gemini stats);
    /// nil when neither is a number.
    static func from(_ value: JSONValue?) -> AgentUsage? {
        guard let o = value?.objectValue else { return nil }
        let input = o["input_tokens"]?.doubleValue
        let output = o["output_tokens"]?.doubleValue
        guard input != nil || output != nil else { return nil }
        return AgentUsage(inputTokens: Int64(input ?? 0), outputTokens: Int64(output ?? 0))
    }
}
