#!/bin/sh
# submit-folder.sh [FOLDER]: queue every request file (*.json) in FOLDER
# (default: requests/ beside this script) by dropping it into the spool's
# incoming/. No client and no running daemon needed.
#
# Each file is copied under a dot name, which the daemon ignores, then renamed
# into place: the daemon sees only whole files. Without an "id", a request's
# task id is made from its file name, so the folder can be submitted again.
#
# Environment: HOPPER_SPOOL, the spool (default ./spool).
set -eu

folder=${1:-$(dirname -- "$0")/requests}
spool=${HOPPER_SPOOL:-./spool}
incoming=$spool/incoming

if [ ! -d "$incoming" ]; then
    echo "submit-folder: no spool at $spool (set HOPPER_SPOOL, or run hopper init)" >&2
    exit 2
fi

count=0
for file in "$folder"/*.json; do
    [ -f "$file" ] || continue
    name=$(basename -- "$file")
    cp -- "$file" "$incoming/.$name.part"
    mv -f -- "$incoming/.$name.part" "$incoming/$name"
    count=$((count + 1))
done
echo "submitted $count request(s) from $folder"
