#!/bin/sh
# auth-flaky.sh COUNTER_FILE N: an auth command whose service is briefly
# unavailable. The first N runs fail with exit 75 (retryable); later runs
# succeed. Runs are counted in COUNTER_FILE, which need not exist yet.

counter=${1:?usage: auth-flaky.sh COUNTER_FILE N}
failures=${2:?usage: auth-flaky.sh COUNTER_FILE N}
runs=$(cat "$counter" 2>/dev/null || echo 0)
runs=$((runs + 1))
echo "$runs" > "$counter"
if [ "$runs" -le "$failures" ]; then
    echo "auth-flaky: temporarily unavailable (run $runs of $failures failing)" >&2
    exit 75
fi
exit 0
