#!/bin/sh
# token.sh: a token_command. Prints a token wrapped in spaces and a newline,
# so the caller must trim it; the value doubles as a secret to mask.

printf ' secret-token-123 \n'
