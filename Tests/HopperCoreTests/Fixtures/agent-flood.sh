#!/bin/sh
# agent-flood.sh: a misbehaving jsonl agent. For each message it prints
# $1 bytes (NULs from /dev/zero) on stdout with no newline, then, on a line
# of its own, a well-formed result. A daemon that buffered whole lines would
# hold all of it in memory.

while read -r line; do
    head -c "$1" /dev/zero
    printf '\n{"type":"result","subtype":"success","is_error":false,"result":"flooded"}\n'
done
