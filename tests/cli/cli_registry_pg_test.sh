#!/usr/bin/env bash
# Two `hsk registry serve` processes on one PostgreSQL database (a real PostgreSQL 15 started by
# this script): receipts anchored through either extend one linear log, heads served by either are
# consistent with each other, a DID Document published through one is served by the other, and a
# registry killed with SIGKILL loses no acknowledged leaf.
# Usage: cli_registry_pg_test.sh HSK_BINARY
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
HSK=$1
work=$(mktemp -d)
pg="/tmp/hsk-pg-registry-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  bash "$here/../tools/pg_cluster.sh" stop "$pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

pgport=$(bash "$here/../tools/pg_cluster.sh" start "$pg") || { bad "PostgreSQL did not start"; echo "$passed passed, $failed failed"; exit 1; }
db="postgresql://hsk@127.0.0.1:$pgport/postgres"

for k in registry svc agent; do "$HSK" keygen --kind svc --out $k.key >/dev/null || bad "keygen $k"; done
for k in registry svc; do "$HSK" did $k.key > $k.did.json || bad "did $k"; done
agent_did=$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' agent.key)
hash=$(printf '%064d' 0)
for i in $(seq 10 49); do
  echo "{\"kind\":\"Receipt\",\"handshake_id\":\"hs_01HZZ$(printf %019d 0)$i\",\"sub\":\"$agent_did\",\"action\":\"billing.invoices.read\",\"result\":\"ok\",\"result_hash\":{\"alg\":\"sha-256\",\"value\":\"$hash\"}}" |
    "$HSK" sign --key svc.key > r$i.json || bad "sign r$i"
done

expect 1 "a password in the database URL is refused" -- "$HSK" registry serve --key registry.key \
  --db "postgresql://hsk:secret@127.0.0.1:$pgport/postgres" --port 0
contains err "pg.url" "password URL reason"
grep -q secret err && bad "the password is repeated in the message" || ok
expect 1 "an unreachable database is a start-up error" -- "$HSK" registry serve --key registry.key \
  --db "postgresql://hsk@127.0.0.1:1/postgres" --port 0
contains err "127.0.0.1:1/postgres" "unreachable database named"

start() {  # start NAME: a registry on the shared database; sets port_NAME
  "$HSK" registry serve --key registry.key --db "$db" --did-db "$db" --revocation-db "$db" --port 0 --did-doc svc.did.json \
    > "$1.out" 2> "$1.err" &
  pids+=($!)
  eval "pid_$1=$!"
  local p=""
  for _ in $(seq 1 200); do
    p=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$1.out")
    [ -n "$p" ] && break
    sleep 0.05
  done
  [ -n "$p" ] && ok || bad "registry $1 did not start: $(cat "$1.err")"
  eval "port_$1=$p"
}
start a
start b

# Anchor through both at once: one log, every receipt one leaf.
for i in $(seq 10 49); do
  if [ $((i % 2)) -eq 0 ]; then u="http://127.0.0.1:$port_a"; else u="http://127.0.0.1:$port_b"; fi
  "$HSK" registry anchor --url "$u" r$i.json > a$i.json 2> a$i.err &
done
wait_all() { for j in $(jobs -p); do case " ${pids[*]} " in *" $j "*) ;; *) wait "$j";; esac; done; }
wait_all
anchored=0
for i in $(seq 10 49); do
  "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a$i.json r$i.json >/dev/null 2>&1 && anchored=$((anchored + 1))
done
[ "$anchored" -eq 40 ] && ok || bad "anchored and verified: $anchored of 40"
indexes=$(sed -n 's/.*"leaf_index":\([0-9]*\).*/\1/p' a*.json | sort -n | uniq | tr '\n' ' ')
[ "$indexes" = "$(seq 0 39 | tr '\n' ' ')" ] && ok || bad "leaf indexes are not 0..39 once each: $indexes"

get() {  # get PORT PATH
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}
# A head from a, a later head from b, the proof from a: they must agree.
sed -n 's/.*"tree_head":\({[^}]*}\).*/\1/p' a10.json > h_first.json
get "$port_b" /v1/tree-head > h_b.json
contains h_b.json '"tree_size":40' "b serves the whole log"
first_size=$(sed -n 's/.*"tree_size":\([0-9]*\).*/\1/p' h_first.json)
get "$port_a" "/v1/proofs/consistency?first=$first_size&second=40" > proof.json
expect 0 "heads of both registries are consistent" -- "$HSK" verify consistency --registry-did-doc registry.did.json \
  --old h_first.json --new h_b.json --proof proof.json

# A DID Document published through a is served by b.
exec 3<>"/dev/tcp/127.0.0.1/$port_a"
printf 'POST /v1/dids HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n' "$(wc -c <svc.did.json)" >&3
cat svc.did.json >&3
sed '1,/^\r$/d' <&3 > published.json
exec 3<&-
contains published.json '"doc_version":"1"' "published through a"
svc_did=$(sed -n 's/.*"id":"\(did:hsk:svc:[^"#]*\)".*/\1/p' published.json | head -1)
get "$port_b" "/v1/dids/$svc_did" > served.json
contains served.json '"role":"service"' "served by b"

# SIGKILL a under load: nothing acknowledged is lost, b goes on, a restarts on the same log.
for i in $(seq 10 49); do
  echo "{\"kind\":\"Receipt\",\"handshake_id\":\"hs_01HZY$(printf %019d 0)$i\",\"sub\":\"$agent_did\",\"action\":\"billing.invoices.read\",\"result\":\"ok\",\"result_hash\":{\"alg\":\"sha-256\",\"value\":\"$hash\"}}" |
    "$HSK" sign --key svc.key > k$i.json
done
for i in $(seq 10 49); do
  "$HSK" registry anchor --url "http://127.0.0.1:$port_a" k$i.json > k$i.out 2>/dev/null &
done
sleep 0.02
kill -9 "$pid_a"
wait_all
acked=0
for i in $(seq 10 49); do
  if grep -q '"leaf_index"' k$i.out 2>/dev/null; then
    acked=$((acked + 1))
    "$HSK" registry anchor --url "http://127.0.0.1:$port_b" k$i.json > again.json 2>/dev/null
    [ "$(sed -n 's/.*"leaf_index":\([0-9]*\).*/\1/p' k$i.out)" = "$(sed -n 's/.*"leaf_index":\([0-9]*\).*/\1/p' again.json)" ] ||
      bad "acknowledged k$i lost or moved"
  fi
done
ok
echo "acknowledged before the kill: $acked of 40"
start a2
get "$port_a2" /v1/tree-head > h_after.json
size_after=$(sed -n 's/.*"tree_size":\([0-9]*\).*/\1/p' h_after.json)
[ "$size_after" -ge $((40 + acked)) ] && ok || bad "tree shrank after the kill: $size_after < $((40 + acked))"
get "$port_a2" "/v1/proofs/consistency?first=40&second=$size_after" > proof2.json
expect 0 "the log after the kill extends the log before it" -- "$HSK" verify consistency --registry-did-doc registry.did.json \
  --old h_b.json --new h_after.json --proof proof2.json

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
