/// Secrets (SPEC section 7): values masked as *** in records, events, logs and outputs.
extension Daemon {
    /// Adds a value to the mask of records, events, logs and outputs.
    func addSecret(_ value: String) {
        var m = mask
        m.add(value)
        guard m != mask else { return }
        mask = m
        store.mask = m
        events.mask = m
        log.mask = m
    }

    /// Values of the variables configured providers name in `secrets`, from
    /// the daemon's environment or the provider's `env`.
    func collectConfiguredSecrets() {
        let environment = Dictionary(baseEnvironment, uniquingKeysWith: { _, last in last })
        for provider in config.providers.values {
            let own = Dictionary(provider.env, uniquingKeysWith: { _, last in last })
            for name in provider.secrets {
                if let value = own[name] ?? environment[name] { addSecret(value) }
            }
        }
    }
}
