import Testing
@testable import HopperCore

/// A task's environment merged from layers (`EnvironmentBlock`): a later
/// layer's value wins in the place where the name first appeared, new names
/// come last, in the order given, whether merged into the block or laid
/// over it per task.
@Suite struct EnvironmentBlockTests {
    @Test func laterLayersReplaceValuesInPlaceAndNewNamesComeLast() {
        let block = EnvironmentBlock([("PATH", "/bin"), ("HOME", "/root"), ("LANG", "C")],
                                     [("HOME", "/home/ann"), ("USER", "ann")],
                                     [("LANG", "C.UTF-8")])
        #expect(block.lines == ["PATH=/bin", "HOME=/home/ann", "LANG=C.UTF-8", "USER=ann"])
    }

    @Test func aTasksNamesAreLaidOverACopy() {
        let block = EnvironmentBlock([("PATH", "/bin"), ("HOPPER_TASK_ID", "inherited")])
        let first = block.with([("A", "1"), ("PATH", "/usr/bin")], [("HOPPER_TASK_ID", "t1"), ("A", "2"), ("B", "3")])
        #expect(first == ["PATH=/usr/bin", "HOPPER_TASK_ID=t1", "A=2", "B=3"])
        // The block itself is untouched: the next task starts from it again.
        #expect(block.with([("HOPPER_TASK_ID", "t2")]) == ["PATH=/bin", "HOPPER_TASK_ID=t2"])
        #expect(block.lines == ["PATH=/bin", "HOPPER_TASK_ID=inherited"])
    }

    @Test func valuesKeepEveryByteAfterTheFirstEqualsSign() {
        let block = EnvironmentBlock([("X", "a=b=c"), ("EMPTY", "")])
        #expect(block.with([("Y", "=")]) == ["X=a=b=c", "EMPTY=", "Y=="])
    }
}
