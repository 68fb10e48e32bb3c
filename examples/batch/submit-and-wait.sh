#!/bin/sh
# submit-and-wait.sh [COUNT]: submit COUNT tasks (default 100) with
# `hopper submit`, then wait for all of them with `hopper wait`. On a
# terminal, a progress line counts the finished ones meanwhile.
# Exit 0 only if every task succeeded (as `hopper wait`).
#
# Environment: HOPPER, the hopper binary (default: hopper on PATH);
# HOPPER_SPOOL, the spool (default ./spool); HOPPER_CONFIG, the
# configuration (default: hopper's own default, ./config/hopper.json).
set -eu

hopper=${HOPPER:-hopper}
spool=${HOPPER_SPOOL:-./spool}
count=${1:-100}

# Options every hopper command gets, kept in "$@".
set -- --spool "$spool"
if [ -n "${HOPPER_CONFIG:-}" ]; then set -- "$@" --config "$HOPPER_CONFIG"; fi

ids=
i=1
while [ "$i" -le "$count" ]; do
    id=$("$hopper" submit "$@" --label batch=submit-and-wait -- echo "task $i of $count")
    ids="$ids $id"
    i=$((i + 1))
done
echo "submitted $count tasks" >&2

finished() {
    n=0
    for id in $ids; do
        if [ -e "$spool/done/$id.json" ]; then n=$((n + 1)); fi
    done
    echo "$n"
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
if [ -t 2 ]; then
    # hopper wait prints nothing until the end: count records meanwhile.
    "$hopper" wait "$@" $ids > "$results" &
    waiter=$!
    while kill -0 "$waiter" 2>/dev/null; do
        printf '\r%s/%s finished' "$(finished)" "$count" >&2
        sleep 1
    done
    wait "$waiter" || status=$?
    printf '\r%s/%s finished\n' "$(finished)" "$count" >&2
else
    "$hopper" wait "$@" $ids > "$results" || status=$?
fi

succeeded=$(grep -c '  succeeded  ' "$results" || true)
echo "$succeeded of $count succeeded"
# The others, one line each: id, state, message.
grep -v '  succeeded  ' "$results" || true
exit "$status"
