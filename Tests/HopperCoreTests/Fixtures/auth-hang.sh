#!/bin/sh
# auth-hang.sh: an auth command that never answers (a hung login server);
# only authentication.timeout ends it.

exec sleep 1000
