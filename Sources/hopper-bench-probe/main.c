// hopper-bench-probe: the task of the drop → start latency scenario.
//
// Its first act is to read CLOCK_MONOTONIC; it prints that reading in
// nanoseconds as one decimal line on stdout and exits 0. hopper-bench
// compares it with its own CLOCK_MONOTONIC reading taken when the task's
// request was renamed into incoming/ (or, for the baseline, just before
// posix_spawn). No shell, no arguments, no allocation.
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    printf("%lld\n", (long long)now.tv_sec * 1000000000LL + (long long)now.tv_nsec);
    return 0;
}
