#!/bin/sh
# auth-deny.sh: an auth command that refuses for good (bad credentials):
# prints a reason to stderr and exits 1, which is not retryable.

echo "auth-deny: invalid credentials for this account" >&2
exit 1
