#!/usr/bin/env bash
# A program's checkpoint of SIZE_MIB (2048) of random bytes (incompressible, as weights are) through
# PostgreSQL: tune's store (benches/pg_stream.rs: stored as a worker stores it, streamed in
# chunks, then read back and unpacked to a folder, its sum checked), beside peers on the same
# server and disk in the same run:
#   - psql's \copy of the same rows in COPY's binary format, out of tune's chunks to a file and from
#     it into a table like them: the server's bulk path through the client shipped with it;
#   - psql's \lo_import and \lo_export: PostgreSQL's large objects, the file streamed in and out by
#     the client shipped with the server;
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
# A database of its own, on $PG or on a throwaway cluster in $tmp/pg.
server=${PG:-$tmp/pg} name=tune_stream_$(date +%s)
trap 'benches/pg/throwaway.sh "$server" stop "$name" || true; rm -rf "$tmp"' EXIT
db=$(benches/pg/throwaway.sh "$server" "$name")
cargo build --release -q --bench pg_stream
bench=$(ls -t target/release/deps/pg_stream-* | grep -v '\.d$' | head -1)

file="$tmp/ckpt.bin"
head -c "${size}M" /dev/urandom > "$file"
sync
# A command's wall seconds and peak resident memory (kB, GNU time's), after the server wrote what
# was dirty and the disk settled (as the bench does before each of tune's phases).
timed() {
  psql -qAt "$db" -c CHECKPOINT >/dev/null 2>&1 || true
  sync
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null
  cat "$tmp/time"
}

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

# The server's own bulk copy of the same rows as tune's (psql's \copy in COPY's binary format):
# out of tune's chunks to a file, and from that file into a table like them.
id=$(psql -qAt "$db" -c "SELECT payload FROM tune_best")
read -r copy_r copy_r_kb < <(timed psql -qAt "$db" -c "\copy (SELECT payload, seq, bytes FROM tune_chunks WHERE payload = $id ORDER BY seq) TO '$tmp/chunks.copy' (FORMAT binary)")
psql -qAt "$db" -c "CREATE TABLE peer_chunks (payload bigint, seq integer, bytes bytea, PRIMARY KEY (payload, seq))"
read -r copy_w copy_w_kb < <(timed psql -qAt "$db" -c "\copy peer_chunks FROM '$tmp/chunks.copy' (FORMAT binary)")
rm -f "$tmp/chunks.copy"

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
printf '%-34s %8s %8s %12s\n' "psql \\copy in (the same rows)" "$copy_w" "$(mibs "$copy_w")" "$((copy_w_kb / 1024))"
printf '%-34s %8s %8s %12s\n' "psql \\copy out (the same rows)" "$copy_r" "$(mibs "$copy_r")" "$((copy_r_kb / 1024))"
printf '%-34s %8s %8s\n' "cp + sync (the disk)" "$cp_s" "$(mibs "$cp_s")"
echo "tune's process before: $(get base_rss_mib) MiB resident"
echo "ratios: tune write / \\copy in $(ratio "$tune_w" "$copy_w"), tune read / \\copy out $(ratio "$tune_r" "$copy_r"), tune write / \\lo_import $(ratio "$tune_w" "$lo_w"), tune read / \\lo_export $(ratio "$tune_r" "$lo_r"), tune write / cp $(ratio "$tune_w" "$cp_s")"
