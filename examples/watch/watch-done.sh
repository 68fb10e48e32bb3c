#!/bin/sh
# watch-done.sh ID...: print each task's final state as it finishes, until
# all are finished. Exit 0 only if every one succeeded, 1 if any did not,
# 2 if an id is unknown (as `hopper wait`).
#
# With inotifywait (package inotify-tools) it watches done/ itself and prints
# "ID  STATE" as each record lands; without it, it runs `hopper wait`, which
# prints "ID  STATE  MESSAGE" lines once all are finished.
#
# Environment: HOPPER, the hopper binary (default: hopper on PATH);
# HOPPER_SPOOL, the spool (default ./spool); WATCH_DONE_WITH=hopper skips
# inotifywait even when it is installed.
set -eu

hopper=${HOPPER:-hopper}
spool=${HOPPER_SPOOL:-./spool}

if [ $# -eq 0 ]; then
    echo "usage: watch-done.sh ID..." >&2
    exit 2
fi

if [ "${WATCH_DONE_WITH:-}" = hopper ] || ! command -v inotifywait >/dev/null 2>&1; then
    exec "$hopper" wait --spool "$spool" "$@"
fi

# Whether the spool holds task $1 anywhere (a task moves by rename, so
# looking done/ last cannot miss one that finishes meanwhile).
known() {
    for place in incoming .hopper/claimed pending queued running done; do
        if [ -e "$spool/$place/$1.json" ]; then return 0; fi
    done
    [ -e "$spool/rejected/$1.json.error.json" ]
}

for id in "$@"; do
    if ! known "$id"; then
        echo "watch-done: no such task $id" >&2
        exit 2
    fi
done

status=0
while [ $# -gt 0 ]; do
    # Look first, then wait for a change: a record that lands between the two
    # ends the wait at its timeout, so it is never missed.
    left=
    for id in "$@"; do
        if [ -f "$spool/done/$id.json" ]; then
            # A record writes its own "state" before its labels and request.
            state=$(awk '{ s = substr($0, index($0, "\"state\":\"") + 9); print substr(s, 1, index(s, "\"") - 1); exit }' "$spool/done/$id.json")
            echo "$id  $state"
            if [ "$state" != succeeded ]; then status=1; fi
        elif [ -f "$spool/rejected/$id.json.error.json" ] && [ ! -e "$spool/incoming/$id.json" ]; then
            echo "$id  rejected"
            status=1
        else
            left="$left $id"
        fi
    done
    # Task ids contain no spaces.
    set -- $left
    if [ $# -gt 0 ]; then
        inotifywait -q -q -t 5 -e moved_to -e close_write -- "$spool/done" "$spool/rejected" || true
    fi
done
exit "$status"
