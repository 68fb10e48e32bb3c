import HopperCore
import Glibc

exit(HopperCLI.main(CommandLine.arguments))
