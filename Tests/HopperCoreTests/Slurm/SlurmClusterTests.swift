import Testing
@testable import HopperCore

/// The cluster fixture itself: two real nodes, each with its own hostname,
/// that both run jobs.
@Suite(.enabled(if: SlurmCluster.mayRun, SlurmCluster.skipMessage))
struct SlurmClusterTests {
    @Test func aStepOnBothNodesPrintsBothHostnames() throws {
        let cluster = try SlurmCluster.require()
        let out = try SlurmCluster.command(cluster, ["/usr/bin/srun", "-N2", "hostname"])
        #expect(out.exitCode == 0, "\(out.stderr)")
        #expect(Set(out.stdout.split(separator: "\n").map(String.init)) == ["h1", "h2"])
    }
}
