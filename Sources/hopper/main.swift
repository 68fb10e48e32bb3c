import HopperCore
import Glibc

exit(await HopperCLI.main(CommandLine.arguments))
