import Glibc

/// Agent providers limited by a rate limit, a quota or their daily budget
/// (SPEC section 7a), carried out: each provider's `ProviderLimit` decides,
/// this file writes the events and arms the timer at the window's end.
extension Daemon {
    /// Whether the provider is limited now (a window whose end has passed
    /// is over, even before its timer has fired).
    func isLimited(_ provider: String) -> Bool {
        guard let until = limits[provider]?.limitedUntil else { return false }
        return until > Timestamp.now()
    }

    /// A task of the provider reported a rate limit or quota.
    func limitProvider(_ name: String, until reset: Timestamp?, message: String) {
        var limit = limits[name] ?? ProviderLimit(backoffStart: config.rateLimitBackoffStart, backoffCap: config.rateLimitBackoffCap)
        let transition = limit.limit(now: Timestamp.now(), reset: reset)
        limits[name] = limit
        announce(transition, provider: name, message: message)
    }

    /// The provider's spend today reached `budget.usd_per_day`.
    func exhaustBudget(_ name: String, spent: Double, budget: Double) {
        var limit = limits[name] ?? ProviderLimit(backoffStart: config.rateLimitBackoffStart, backoffCap: config.rateLimitBackoffCap)
        let transition = limit.exhaustBudget(now: Timestamp.now())
        limits[name] = limit
        announce(transition, provider: name,
                 message: "Spent \(FieldReader.format(spent)) USD today (UTC), the provider's budget of \(FieldReader.format(budget)) USD a day.")
    }

    private func announce(_ transition: ProviderLimit.Transition?, provider: String, message: String) {
        guard case .limited(let until, let reason)? = transition else { return }
        events.append("provider.limited") { w in
            w.field("provider", provider)
            w.field("until", until.rfc3339)
            w.field("reason", reason.rawValue)
            w.field("message", message)
        }
        log.warning("provider", "limited", [("provider", provider), ("until", until.rfc3339), ("reason", reason.rawValue), ("message", message)])
        schedule(at: MonotonicInstant.now().adding(seconds: max(0, until - Timestamp.now())), .limitEnds(provider))
        published.changed = true
    }

    /// The timer at a window's end: the provider resumes (a window moved
    /// later meanwhile armed its own timer).
    func limitEnds(_ name: String) {
        guard var limit = limits[name] else { return }
        let transition = limit.advance(now: Timestamp.now())
        limits[name] = limit
        guard transition == .resumed else { return }
        events.append("provider.resumed") { w in w.field("provider", name) }
        log.info("provider", "resumed", [("provider", name)])
        published.changed = true
    }

    /// A record with a cost was written: the provider's budget is checked.
    func chargeBudget(_ record: TaskRecord) {
        guard let cost = record.agentOutcome?.costUSD, let provider = config.providers[record.task.provider] else { return }
        budget.record(provider: provider.name, costUSD: cost, finishedAt: record.finishedAt)
        guard let limit = provider.budgetUSDPerDay else { return }
        let now = Timestamp.now()
        if budget.isExhausted(provider: provider.name, budget: limit, now: now) {
            exhaustBudget(provider.name, spent: budget.spent(provider: provider.name, now: now), budget: limit)
        }
    }
}

extension Daemon {
    /// On start: today's spend counted back from the records in done/ (only
    /// when a provider has a budget; a record last changed before today's
    /// 00:00 UTC cannot have finished today), and each budget checked.
    func countTodaysSpend() {
        let budgeted = config.providers.values.filter { $0.budgetUSDPerDay != nil }
        guard !budgeted.isEmpty else { return }
        let now = Timestamp.now()
        let midnight = BudgetLedger.nextUTCMidnight(after: now).adding(seconds: -86_400)
        let done = spool[.done]
        for name in (try? done.entries()) ?? [] where name.bytes.count > 5 && name.bytes.suffix(5).elementsEqual(".json".utf8) {
            guard let st = (try? done.status(name)) ?? nil,
                  Timestamp(nanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)) >= midnight,
                  let bytes = (try? AtomicFile.read(name, in: done, limit: 16 << 20)) ?? nil,
                  let summary = try? RecordSummary(bytes: bytes) else { continue }
            budget.record(summary)
        }
        for provider in budgeted {
            let limit = provider.budgetUSDPerDay!
            if budget.isExhausted(provider: provider.name, budget: limit, now: now) {
                exhaustBudget(provider.name, spent: budget.spent(provider: provider.name, now: now), budget: limit)
            }
        }
    }
}
