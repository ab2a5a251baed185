#!/usr/bin/env bash
# A program's checkpoint of SIZE_MIB (2048) of random bytes (incompressible, as weights are) through
# PostgreSQL: tune's store (benches/pg_stream.rs: stored as a worker stores it, streamed in
# chunks, then read back and unpacked to a folder, its sum checked), beside peers on the same
# server and disk in the same run:
#   - psql's \lo_import and \lo_export: PostgreSQL's own large objects, the file streamed in and
#     out by the client shipped with the server;
#   - cp: the disk alone, reading and writing the same bytes.
# Prints seconds, MiB/s and the peak resident memory of tune's process (and of psql) per direction,
# and tune's time as a ratio of each peer's.
#
# Usage: benches/pg/stream.sh                      (a throwaway cluster in a temp folder)
#        PG=postgresql://user@host:port/db benches/pg/stream.sh   (an existing server; its user
#        must be allowed to create databases)
#        SIZE_MIB=512 TMP=/path benches/pg/stream.sh   (another size; a folder with room for
#        three copies of the file besides the cluster's)
set -eu
cd "$(dirname "$0")/../.."
size=${SIZE_MIB:-2048}
tmp=$(mktemp -d "${TMP:-/tmp}/tune-stream.XXXXXX")
chmod 755 "$tmp" # the cluster's owner (postgres, when run as root) reaches its folder inside
stop=:
trap 'eval "$stop"; rm -rf "$tmp"' EXIT
if [ -z "${PG:-}" ]; then
  PG=$(benches/pg/throwaway.sh "$tmp/pg")
  stop="benches/pg/throwaway.sh '$tmp/pg' stop"
fi
db="${PG%/*}/tune_stream_$(date +%s)"
psql -qAt "$PG" -c "CREATE DATABASE ${db##*/}"
stop="psql -qAt '$PG' -c 'DROP DATABASE IF EXISTS ${db##*/}'; $stop"
cargo build --release -q --bench pg_stream
bench=$(ls -t target/release/deps/pg_stream-* | grep -v '\.d$' | head -1)

file="$tmp/ckpt.bin"
head -c "${size}M" /dev/urandom > "$file"
sync
# GNU time's peak resident memory (kB) of a command, and its wall seconds.
timed() { /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null; cat "$tmp/time"; }

# tune: write (adopt, put, sync) and read (get) in one process, each phase timed and its peak taken.
"$bench" "$db" "$file" > "$tmp/tune"
get() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/tune"; }
tune_w=$(get write_s) tune_r=$(get read_s)

# psql's large objects: the same file in and out.
read -r lo_w lo_w_kb < <(timed psql -qAt "$db" -c "\lo_import '$file'")
oid=$(psql -qAt "$db" -c "SELECT max(oid) FROM pg_largeobject_metadata")
read -r lo_r lo_r_kb < <(timed psql -qAt "$db" -c "\lo_export $oid '$tmp/lo.bin'")
cmp -s "$file" "$tmp/lo.bin" || { echo "stream.sh: \\lo_export differs" >&2; exit 1; }
rm -f "$tmp/lo.bin"

# The disk: the same bytes copied (read, written, synced).
read -r cp_s _ < <(timed sh -c "cp '$file' '$tmp/copy.bin' && sync")
rm -f "$tmp/copy.bin"

mibs() { awk -v s="$1" -v n="$size" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "checkpoint: $size MiB of random bytes, $(nproc) cores"
printf '%-34s %8s %8s %12s\n' "" seconds "MiB/s" "peak MiB"
printf '%-34s %8s %8s %12s\n' "tune write (stream into chunks)" "$tune_w" "$(mibs "$tune_w")" "$(get write_peak_mib)"
printf '%-34s %8s %8s %12s\n' "tune read (stream out, unpack)" "$tune_r" "$(mibs "$tune_r")" "$(get read_peak_mib)"
printf '%-34s %8s %8s %12s\n' "psql \\lo_import" "$lo_w" "$(mibs "$lo_w")" "$((lo_w_kb / 1024))"
printf '%-34s %8s %8s %12s\n' "psql \\lo_export" "$lo_r" "$(mibs "$lo_r")" "$((lo_r_kb / 1024))"
printf '%-34s %8s %8s\n' "cp + sync (the disk)" "$cp_s" "$(mibs "$cp_s")"
echo "tune's process before: $(get base_rss_mib) MiB resident"
echo "ratios: tune write / \\lo_import $(ratio "$tune_w" "$lo_w"), tune read / \\lo_export $(ratio "$tune_r" "$lo_r"), tune write / cp $(ratio "$tune_w" "$cp_s")"
