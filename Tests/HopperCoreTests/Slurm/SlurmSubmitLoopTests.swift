import Glibc
import Testing
@testable import HopperCore

/// The shell loop that submits a batch, run by /bin/sh against a fake
/// `sbatch` (no cluster): one result per script, in order, whatever sbatch
/// prints on standard error.
@Suite struct SlurmSubmitLoopTests {
    /// A fake sbatch: for a script whose name starts with `warn` it warns on
    /// standard error and then prints `42;hopper`; `refuse…` is refused;
    /// anything else gets job 7.
    static let fakeSbatch = """
        #!/bin/sh
        # Simulates sbatch --parsable: a warning before the id, a refusal, a plain id.
        for last; do :; done
        case "${last##*/}" in
          warn*) echo "sbatch: warning: Slurm temporarily unable to accept job, sleeping and retrying" >&2; echo "42;hopper" ;;
          refuse*) echo "sbatch: error: invalid partition specified" >&2; exit 1 ;;
          *) echo 7 ;;
        esac
        """

    @Test func aWarningBeforeTheJobIDShiftsNoResult() throws {
        let t = try TestSpool(config: nil)
        let sbatch = t.base + "/sbatch"
        try t.write(sbatch, Self.fakeSbatch)
        chmod(sbatch, 0o755)
        let loop = SlurmJobScript.submitLoop(sbatch: sbatch, arguments: ["--partition=main"])
        let scripts = ["warn.job", "ok.job", "refuse.job", "after.job"].map { t.base + "/" + $0 }
        let out = try runProcess(["/bin/sh", "-c", loop, "hopper-sbatch"] + scripts)
        #expect(out.exitCode == 0, "\(out.stderr)")
        let results = SlurmJobScript.parseSubmissions(out.stdout, count: scripts.count)
        #expect(results.map { try? $0.get() } == ["42", "7", nil, "7"], "\(out.stdout)")
        if case .failure(let refusal) = results[2] { #expect(refusal.message.contains("invalid partition")) }
    }
}
