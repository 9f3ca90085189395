#!/bin/bash
# archive.sh BASE WITH_POSTGRESQL GZIP_LEVEL [DIRECTORY...]
#
# Writes BASE.tar.gz (the directories, with owners, modes, ACLs and xattrs, plus pg_dumpall.sql
# when WITH_POSTGRESQL is "yes") and BASE.sha256: the SHA-256 of every archived file (sha256sum
# format, paths as in the archive) and, last, of BASE.tar.gz itself. The manifest is written
# last, atomically: its presence means the archive is complete.
set -euo pipefail
base=$1 with_pg=$2 level=$3
shift 3
work=$(mktemp -d "$(dirname "$base")/.archive.XXXXXX")
trap 'rm -rf "$work"' EXIT
members=()
for dir in "$@"; do
    members+=("${dir#/}")
done
if [ "$with_pg" = yes ]; then
    runuser -u postgres -- pg_dumpall --no-password > "$work/pg_dumpall.sql"
fi
{
    if [ ${#members[@]} -gt 0 ]; then
        (cd / && find "${members[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    fi
    if [ "$with_pg" = yes ]; then
        (cd "$work" && sha256sum pg_dumpall.sql)
    fi
} > "$work/files.sha256"
extra=(-C "$work" files.sha256)
if [ "$with_pg" = yes ]; then
    extra+=(pg_dumpall.sql)
fi
tar --create --use-compress-program="gzip -$level" --file "$work/archive.tar.gz" \
    --numeric-owner --acls --xattrs -C / "${members[@]}" "${extra[@]}"
mv "$work/archive.tar.gz" "$base.tar.gz"
(cd "$(dirname "$base")" && sha256sum "$(basename "$base").tar.gz") >> "$work/files.sha256"
mv "$work/files.sha256" "$base.sha256"
echo "archived ${#members[@]} directories into $base.tar.gz"
