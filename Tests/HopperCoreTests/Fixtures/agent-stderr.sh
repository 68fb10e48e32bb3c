#!/bin/sh
# agent-stderr.sh: a jsonl agent that explains itself on stderr, as agent CLIs
# do. Before each result it writes a diagnostic line to stderr; after it, a
# background line to stdout; and when its session is closed (SIGTERM), a
# farewell to stderr. The last two belong to no task.

turn=0
trap 'printf "agent-stderr: closing after %d turns\n" "$turn" >&2; exit 0' TERM
while read -r line; do
    turn=$((turn + 1))
    text=$(printf '%s\n' "$line" | sed -n 's/.*"content"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
    printf 'agent-stderr: diagnostic for %s\n' "$text" >&2
    printf '{"type":"result","subtype":"success","is_error":false,"result":"%s"}\n' "$text"
    printf '{"type":"system","subtype":"background","after":"%s"}\n' "$text"
done
