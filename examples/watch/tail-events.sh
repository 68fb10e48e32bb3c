#!/bin/sh
# tail-events.sh [ID]: follow the spool's event log, one readable line per
# event (all tasks, or only task ID). Stop with Ctrl-C.
#
#   2026-11-24T20:38:03.001591Z  accepted  echo-1k11eqxh08k8ag  from echo-1k11eqxh08k8ag.json
#   2026-11-24T20:38:03.005027Z  echo-1k11eqxh08k8ag  incoming -> queued
#   2026-11-24T20:38:03.063189Z  rejected  bad.json  invalid_field: field "timeout": ...
#
# tail -F (not -f) keeps following across the rotation into events.jsonl.1.
# No jq needed: awk picks the fields (an event is one JSON object a line with
# string values, see docs/contract.md, "Events"). With jq, the same is:
#
#   tail -n 10 -F spool/events.jsonl | jq -r --unbuffered '
#     if .event == "task.state" then "\(.ts)  \(.id)  \(.from) -> \(.to)"
#     elif .event == "task.accepted" then "\(.ts)  accepted  \(.id)  from \(.source)"
#     elif .event == "task.rejected" then "\(.ts)  rejected  \(.file)  \(.error): \(.message)"
#     else "\(.ts)  \(.event)  \([.provider, .session] | map(select(.)) | join("/"))" end'
#
# Environment: HOPPER_SPOOL, the spool (default ./spool).
set -eu

spool=${HOPPER_SPOOL:-./spool}
only=${1:-}

# mawk reads a pipe in large blocks unless told otherwise; other awks take
# lines as they come (and fflush() below writes each one at once).
interactive=
if awk -W interactive 'BEGIN { exit }' </dev/null >/dev/null 2>&1; then interactive="-W interactive"; fi

# shellcheck disable=SC2086 # $interactive is empty or two words
tail -n 10 -F -- "$spool/events.jsonl" | awk $interactive -v only="$only" '
# The string value of "name":"..." on this line, unescaped; "" if absent.
function field(name,    start, s, out, c) {
    start = index($0, "\"" name "\":\"")
    if (start == 0) return ""
    s = substr($0, start + length(name) + 4)
    out = ""
    while (length(s) > 0) {
        c = substr(s, 1, 1)
        if (c == "\"") break
        if (c == "\\") { c = substr(s, 2, 1); if (c == "n") c = " "; s = substr(s, 2) }
        out = out c
        s = substr(s, 2)
    }
    return out
}
{
    if (only != "" && field("id") != only) next
    event = field("event")
    if (event == "task.state") line = field("id") "  " field("from") " -> " field("to")
    else if (event == "task.accepted") line = "accepted  " field("id") "  from " field("source")
    else if (event == "task.rejected") line = "rejected  " field("file") "  " field("error") ": " field("message")
    else {
        line = event
        if (field("session") != "") line = line "  " field("provider") "/" field("session")
        if (field("reason") != "") line = line "  " field("reason")
    }
    print field("ts") "  " line
    fflush()
}'
