import Testing

/// The fault suites that start daemons by the hundred (under strace, in a
/// mount namespace, killed every second) run one at a time, so that on a
/// small machine they do not starve the rest of `swift test`.
@Suite(.serialized) struct FaultInjection {}
