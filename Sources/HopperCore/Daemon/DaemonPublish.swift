import Glibc

/// When status.json and metrics.prom were last written, and whether they are stale.
struct Publication {
    /// Upper bounds (seconds) of the task duration histogram's buckets.
    static let buckets: [Double] = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800]
    static let interval = 1.0

    var changed = true
    var last: MonotonicInstant?
    var scheduled = false
}

/// status.json and metrics.prom: rewritten atomically, at most once a second
/// and at least once a second while anything changes.
extension Daemon {
    func publishIfDue() {
        guard published.changed else { return }
        let now = MonotonicInstant.now()
        if let last = published.last, now - last < Publication.interval {
            if !published.scheduled {
                published.scheduled = true
                schedule(at: last.adding(seconds: Publication.interval), .publish)
            }
            return
        }
        published.changed = false
        published.scheduled = false
        published.last = now
        writeStatus(state: shuttingDown ? "stopping" : "running")
    }

    /// status.json and metrics.prom rewritten at once (SIGUSR1: `hopper status` wants them fresh).
    func publishNow() {
        published.changed = false
        published.last = MonotonicInstant.now()
        writeStatus(state: shuttingDown ? "stopping" : "running")
    }

    func writeStatus(state: String) {
        guard let store else { return }
        let counts = held.released.counts
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.field("state", state)
        w.field("pid", Int(getpid()))
        w.field("spool", spool.path)
        w.field("started_at", startedAt.rfc3339)
        w.field("updated_at", Timestamp.now().rfc3339)
        w.key("workers")
        w.beginObject()
        w.field("total", config.workers)
        w.field("busy", attempts.count)
        w.endObject()
        w.key("counts")
        w.beginObject()
        for s in [TaskState.pending, .queued, .running] { w.field(s.rawValue, counts[s] ?? 0) }
        w.endObject()
        w.key("finished_since_start")
        w.beginObject()
        for s in [TaskState.succeeded, .failed, .error, .cancelled] { w.field(s.rawValue, held.released.stats.finished[s] ?? 0) }
        w.endObject()
        w.key("paused")
        w.beginArray()
        for name in pause.sorted { w.string(name) }
        w.endArray()
        w.field("accepted_since_start", held.released.stats.accepted)
        w.field("rejected_since_start", held.released.stats.rejected)
        w.key("providers")
        w.beginObject()
        for name in config.providers.keys.sorted() {
            let p = config.providers[name]!
            w.key(name)
            w.beginObject()
            w.field("mode", p.mode.rawValue)
            w.field("running", attempts.values.filter { $0.task.provider == name }.count)
            let pool = sessions[name]
            w.field("paused", pause.holds(name))
            w.field("circuit", pool?.breaker.state.rawValue ?? "closed")
            w.field("sessions", pool?.sessions.count ?? 0)
            w.field("last_auth_error", pool?.lastAuthError)
            if p.agent != nil {
                // SPEC 7a: a limited provider, until when and why; today's spend against its budget.
                let limited = isLimited(name)
                w.field("limited_until", limited ? limits[name]?.limitedUntil?.rfc3339 : nil)
                w.field("limit_reason", limited ? limits[name]?.reason?.rawValue : nil)
                w.field("spent_today_usd", budget.spent(provider: name, now: Timestamp.now()))
                w.field("budget_usd_per_day", p.budgetUSDPerDay)
            }
            w.endObject()
        }
        w.endObject()
        w.key("sessions")
        w.beginArray()
        for (name, pool) in sessions.providers.sorted(by: { $0.key < $1.key }) {
            for session in pool.sessions.values.sorted(by: { $0.id < $1.id }) {
                w.beginObject()
                w.field("id", session.id)
                w.field("provider", name)
                // Whose tasks it serves: a session never serves two owners.
                w.key("owner")
                if let uid = session.owner { owner(uid).write(to: &w) } else { w.null() }
                w.field("state", session.lifecycle.state.rawValue)
                w.field("idle_warning", session.lifecycle.warned)
                w.field("pid", sessionProcesses[session.id].map { Int($0.process.pid.rawValue) })
                w.field("task", session.task?.rawValue)
                w.field("tasks_run", session.tasksRun)
                w.endObject()
            }
        }
        w.endArray()
        w.endObject()
        do {
            try store.writeRootFile(w.line, as: "status.json")
            try store.writeRootFile(Array(metrics(counts: counts, up: state != "stopped").utf8), as: "metrics.prom")
        } catch {
            log.warning("status", "cannot write status.json or metrics.prom", [("error", "\(error)")])
        }
    }

    /// Prometheus text format (for node_exporter's textfile collector).
    func metrics(counts: [TaskState: Int], up: Bool) -> String {
        var m = ""
        func family(_ name: String, _ type: String, _ help: String) {
            m += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("hopper_up", "gauge", "Whether the daemon is running on this spool.")
        m += "hopper_up \(up ? 1 : 0)\n"
        family("hopper_tasks_total", "counter", "Tasks that reached a terminal state since the daemon started, by state.")
        for s in [TaskState.succeeded, .failed, .error, .cancelled] { m += "hopper_tasks_total{state=\"\(s.rawValue)\"} \(held.released.stats.finished[s] ?? 0)\n" }
        family("hopper_tasks_accepted_total", "counter", "Dropped files accepted as tasks since the daemon started.")
        m += "hopper_tasks_accepted_total \(held.released.stats.accepted)\n"
        family("hopper_tasks_rejected_total", "counter", "Dropped files moved to rejected/ since the daemon started.")
        m += "hopper_tasks_rejected_total \(held.released.stats.rejected)\n"
        family("hopper_queue_depth", "gauge", "Unfinished tasks by state.")
        for s in [TaskState.pending, .queued, .running] { m += "hopper_queue_depth{state=\"\(s.rawValue)\"} \(counts[s] ?? 0)\n" }
        family("hopper_workers", "gauge", "Configured worker slots.")
        m += "hopper_workers \(config.workers)\n"
        family("hopper_workers_busy", "gauge", "Worker slots running a task.")
        m += "hopper_workers_busy \(attempts.count)\n"
        family("hopper_sessions", "gauge", "Live sessions by provider and state.")
        for (name, pool) in sessions.providers.sorted(by: { $0.key < $1.key }) {
            var byState: [String: Int] = [:]
            for s in pool.sessions.values { byState[s.lifecycle.state.rawValue, default: 0] += 1 }
            for (state, n) in byState.sorted(by: { $0.key < $1.key }) { m += "hopper_sessions{provider=\"\(name)\",state=\"\(state)\"} \(n)\n" }
        }
        family("hopper_auth_failures_total", "counter", "Failed session authentication attempts since the daemon started.")
        for (name, pool) in sessions.providers.sorted(by: { $0.key < $1.key }) { m += "hopper_auth_failures_total{provider=\"\(name)\"} \(pool.authFailures)\n" }
        family("hopper_circuit_open", "gauge", "Whether a provider's circuit breaker is open (1) or not (0).")
        for name in config.providers.keys.sorted() {
            m += "hopper_circuit_open{provider=\"\(name)\"} \(sessions[name]?.breaker.state == .open ? 1 : 0)\n"
        }
        let agents = config.providers.values.filter { $0.agent != nil }.map(\.name).sorted()
        if !agents.isEmpty {
            family("hopper_provider_limited", "gauge", "Whether an agent provider is limited by a rate limit or its budget (1) or not (0).")
            for name in agents { m += "hopper_provider_limited{provider=\"\(name)\"} \(isLimited(name) ? 1 : 0)\n" }
            family("hopper_provider_spent_usd_today", "gauge", "What an agent provider's tasks cost since 00:00 UTC, from their records.")
            for name in agents { m += "hopper_provider_spent_usd_today{provider=\"\(name)\"} \(budget.spent(provider: name, now: Timestamp.now()))\n" }
        }
        family("hopper_paused", "gauge", "Whether a provider's tasks are held by a file in paused/ (1) or not (0); provider \"ALL\" is the pause of every provider.")
        m += "hopper_paused{provider=\"ALL\"} \(pause.isAllPaused ? 1 : 0)\n"
        for name in config.providers.keys.sorted() { m += "hopper_paused{provider=\"\(name)\"} \(pause.holds(name) ? 1 : 0)\n" }
        family("hopper_hook_failures_total", "counter", "Completion hooks (on_finish) that failed, timed out or could not start since the daemon started.")
        m += "hopper_hook_failures_total \(held.released.stats.hookFailures)\n"
        family("hopper_task_duration_seconds", "histogram", "Run time of finished tasks' last attempt.")
        for (i, bound) in Publication.buckets.enumerated() {
            m += "hopper_task_duration_seconds_bucket{le=\"\(FieldReader.format(bound))\"} \(held.released.stats.durationBuckets[i])\n"
        }
        m += "hopper_task_duration_seconds_bucket{le=\"+Inf\"} \(held.released.stats.durationCount)\n"
        m += "hopper_task_duration_seconds_sum \(held.released.stats.durationSum)\n"
        m += "hopper_task_duration_seconds_count \(held.released.stats.durationCount)\n"
        return m
    }
}
