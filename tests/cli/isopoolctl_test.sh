#!/usr/bin/env bash
# isopoolctl end to end against the real isopool_server (port 0, temp data dir): help and usage
# errors, health, upload (script, ESM, progress), exec (function, source, blank), get/list/rm,
# every exit code triggered for real, --json output parsed, and `pack` byte-identity with the
# server's own upload.
source "${TEST_SRCDIR:?run me with bazel test}/isopool/tests/cli/server_lib.sh"
CTL="$WS/cli/isopoolctl"
[ -x "$CTL" ] || die "no isopoolctl at $CTL"

# ctl ARGS...: runs isopoolctl against the current server; sets RC, OUT, ERR.
ctl() {
  set +e
  "$CTL" --addr "${ADDR:-$SERVER_ADDR}" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  RC=$?
  set -e
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
}
# json EXPR: a Python expression over `d`, stdout parsed as one JSON document (strings bare).
json() {
  /usr/bin/python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read())
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$TMP/out" "$1" 2>/dev/null
}
rc_is() { [ "$RC" -eq "$1" ] || { echo "  exit code $RC, want $1; stderr: $ERR" >&2; return 1; }; }
has() { grep -qF -- "$2" <<<"$1" || { echo "  missing '$2' in: $1" >&2; return 1; }; }
eq() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }

cat >"$TMP/calc.js" <<'JS'
function add(a, b) { console.log("adding", a, b); return a + b; }
function boom() { throw new Error("kaboom"); }
JS
cat >"$TMP/greet.mjs" <<'JS'
export function greet(name) { return `hello ${name}`; }
export default { twice(x) { return 2 * x; } };
JS
echo 'function (' >"$TMP/bad.js"
echo 'globalThis.warmed = [1, 2, 3].map((x) => x * 2);' >"$TMP/warm.js"
echo '[2, 3]' >"$TMP/args.json"
{ cat "$TMP/calc.js"; echo 'function mul(a, b) { return a * b; }'; } >"$TMP/packme.js"
echo 'new Promise((resolve) => resolve(6 * 7))' >"$TMP/promise.js"
{
  echo "function big() { return 'big'; }"
  /usr/bin/python3 -c 'print("// " + "x" * (3 << 19))'  # a 1.5 MiB comment
} >"$TMP/big.js"

echo "== help and usage errors (exit 2)"
ctl --help
check "--help exits 0 and lists the exit codes" eval 'rc_is 0 && has "$OUT" "Exit codes" && has "$OUT" "6  unavailable"'
for cmd in upload exec get list rm health pack; do
  ctl help "$cmd"
  help_text=$OUT
  check "help $cmd" eval 'rc_is 0 && has "$help_text" "Usage: isopoolctl $cmd"'
  ctl "$cmd" --help
  check "$cmd --help equals help $cmd" eval 'rc_is 0 && eq "$OUT" "$help_text"'
done
ctl
check "no command: usage error" rc_is 2
ctl frobnicate
check "unknown command: usage error" rc_is 2
ctl list --bogus
check "unknown flag: usage error" eval 'rc_is 2 && has "$ERR" "unknown flag --bogus"'
ctl exec calc
check "exec without --function or --source: usage error" rc_is 2
ctl exec calc --function add --source 1
check "exec with both --function and --source: usage error" rc_is 2
ctl upload "$TMP/calc.js"
check "upload without --name: usage error" eval 'rc_is 2 && has "$ERR" "--name is required"'
ctl upload "$TMP/missing.js" --name missing
check "upload of a missing file: usage error" rc_is 2
ctl exec calc --function add --timeout_ms soon
check "non-numeric limit: usage error" rc_is 2

echo "== unavailable (exit 6)"
ADDR="127.0.0.1:$(closed_port)"
ctl health
check "health at a closed port" eval 'rc_is 6 && has "$ERR" "UNAVAILABLE"'
ctl --json list
check "--json list at a closed port prints the status" eval 'rc_is 6 && eq "$(json "d[\"status\"][\"code\"]")" UNAVAILABLE'
unset ADDR

echo "== health"
start_server
ctl health
check "health SERVING" eval 'rc_is 0 && eq "$OUT" SERVING'
ctl health --service isopool.v1.Isopool --json
check "health of isopool.v1.Isopool, --json" eval 'rc_is 0 && eq "$(json "d[\"status\"]")" SERVING'
set +e
OUT=$(ISOPOOL_ADDR=$SERVER_ADDR "$CTL" health 2>&1)
RC=$?
set -e
check "ISOPOOL_ADDR picks the server" eval 'rc_is 0 && eq "$OUT" SERVING'

echo "== upload"
ctl upload "$TMP/calc.js" --name calc --json
CALC_ID=$(json 'd["snapshot"]["id"]')
check "upload a script" eval 'rc_is 0 && [[ "$CALC_ID" =~ ^sha256:[0-9a-f]{64}$ ]] && eq "$(json "d[\"created\"]")" true && eq "$(json "d[\"snapshot\"][\"name\"]")" calc'
ctl upload "$TMP/calc.js" --name calc
check "the same upload again: same id, nothing new" eval 'rc_is 0 && has "$OUT" "uploaded calc" && has "$OUT" "$CALC_ID" && has "$OUT" "created:       no"'
ctl upload "$TMP/greet.mjs" --name greet --esm --json
GREET_ID=$(json 'd["snapshot"]["id"]')
check "upload an ES module" eval 'rc_is 0 && [[ "$GREET_ID" =~ ^sha256: ]] && eq "$(json "d[\"snapshot\"][\"spec\"][\"kind\"]")" ES_MODULE'
ctl upload "$TMP/big.js" --name big --progress
check "a 1.5 MiB upload shows progress with --progress" eval 'rc_is 0 && has "$ERR" "uploading:" && has "$ERR" "(100%)"'
set +e
OUT=$(script -qec "'$CTL' --addr $SERVER_ADDR upload '$TMP/big.js' --name big" /dev/null </dev/null)
RC=$?
set -e
CR=$'\r'
check "a 1.5 MiB upload redraws a progress line when stderr is a terminal (pty via script)" eval 'rc_is 0 && has "$OUT" "${CR}uploading:" && has "$OUT" "(100%)"'
ctl upload "$TMP/big.js" --name big
check "no progress line when stderr is not a terminal" eval 'rc_is 0 && ! has "$ERR" "uploading:" 2>/dev/null'

echo "== exec"
ctl exec calc --function add --args '[2, 3]' --json
check "exec a function, --json" eval 'rc_is 0 && eq "$(json "d[\"result\"]")" 5 && eq "$(json "d[\"error\"]")" null && eq "$(json "d[\"snapshot_id\"]")" "$CALC_ID"'
check "exec --json carries logs and stats" eval 'eq "$(json "d[\"logs\"][0][\"message\"]")" "adding 2 3" && eq "$(json "\"wall_us\" in d[\"stats\"] and \"queue_wait_us\" in d[\"stats\"]")" true'
ctl exec calc --function add --args @"$TMP/args.json" --stats
check "exec with --args @file, human output" eval 'rc_is 0 && eq "$OUT" 5 && has "$ERR" "adding 2 3" && has "$ERR" "stats: wall"'
set +e
OUT=$(echo '[20, 22]' | "$CTL" --addr "$SERVER_ADDR" exec "$CALC_ID" --function add --args @- 2>/dev/null)
RC=$?
set -e
check "exec by id with --args @- (stdin)" eval 'rc_is 0 && eq "$OUT" 42'
ctl exec greet --function greet --args '["isopool"]'
check "exec an ES module export" eval 'rc_is 0 && eq "$OUT" "\"hello isopool\""'
ctl exec greet --function default.twice --args '[21]'
check "exec a method of the default export" eval 'rc_is 0 && eq "$OUT" 42'
ctl exec calc --source 'add(40, 2)'
check "exec --source against a snapshot" eval 'rc_is 0 && eq "$OUT" 42'
ctl exec --blank --source '6 * 7'
check "exec --blank --source" eval 'rc_is 0 && eq "$OUT" 42'
ctl exec "" --source @"$TMP/promise.js" --json
check "exec \"\" --source @file awaits a promise" eval 'rc_is 0 && eq "$(json "d[\"result\"]")" 42'

echo "== script errors (exit 1)"
ctl exec calc --function boom
check "a throwing function" eval 'rc_is 1 && has "$ERR" "script error: EXCEPTION" && has "$ERR" "kaboom"'
ctl exec calc --function boom --json
check "a throwing function, --json" eval 'rc_is 1 && eq "$(json "d[\"error\"][\"kind\"]")" EXCEPTION && eq "$(json "d[\"result\"]")" null'
ctl exec --blank --source 'while (true) {}' --timeout_ms 200 --json
check "a timeout is a script error" eval 'rc_is 1 && eq "$(json "d[\"error\"][\"kind\"]")" TIMEOUT'

echo "== invalid argument (exit 4)"
ctl exec calc --function add --args 'not json' --json
check "args that are not JSON" eval 'rc_is 4 && eq "$(json "d[\"status\"][\"code\"]")" INVALID_ARGUMENT'
ctl exec calc --function nosuch
check "an unknown function" eval 'rc_is 4 && has "$ERR" "INVALID_ARGUMENT"'
ctl upload "$TMP/bad.js" --name bad
check "a bundle that does not parse" eval 'rc_is 4 && has "$ERR" "SyntaxError"'
ctl upload "$TMP/calc.js" --name 'bad name!'
check "an invalid name" rc_is 4

echo "== not found (exit 3)"
ctl exec nope --function add
check "exec an unknown snapshot" eval 'rc_is 3 && has "$ERR" "NOT_FOUND"'
ctl get nope --json
check "get an unknown snapshot, --json" eval 'rc_is 3 && eq "$(json "d[\"status\"][\"code\"]")" NOT_FOUND'
ctl rm nope
check "rm an unknown snapshot" rc_is 3

echo "== deadline (exit 5)"
ctl --deadline_ms 1 exec --blank --source 'while (true) {}' --timeout_ms 5000
check "a 1 ms deadline: DEADLINE_EXCEEDED" eval 'rc_is 5 && has "$ERR" "DEADLINE_EXCEEDED"'

echo "== get, list, rm"
ctl get calc --json
check "get --json" eval 'rc_is 0 && eq "$(json "d[\"id\"]")" "$CALC_ID" && eq "$(json "d[\"name\"]")" calc && eq "$(json "d[\"spec\"][\"kind\"]")" CLASSIC_SCRIPT'
ctl get calc
check "get, human" eval 'rc_is 0 && has "$OUT" "id:            $CALC_ID" && has "$OUT" "kind:          CLASSIC_SCRIPT"'
ctl list --json
check "list --json, in name order" eval 'rc_is 0 && eq "$(json "[s[\"name\"] for s in d[\"snapshots\"]]")" "[\"big\", \"calc\", \"greet\"]"'
ctl list --page_size 1 --json
check "list --page_size 1 gives one page and a token" eval 'rc_is 0 && eq "$(json "len(d[\"snapshots\"])")" 1 && [ -n "$(json "d[\"next_page_token\"]")" ]'
ctl list --page_size 1 --all --json
check "list --page_size 1 --all follows every page" eval 'rc_is 0 && eq "$(json "[s[\"name\"] for s in d[\"snapshots\"]]")" "[\"big\", \"calc\", \"greet\"]"'
ctl list
check "list, human" eval 'rc_is 0 && has "$OUT" "NAME" && has "$OUT" "greet" && has "$OUT" "ES_MODULE"'
ctl rm greet --json
check "rm --json names the removed envelope" eval 'rc_is 0 && eq "$(json "d[\"removed_id\"]")" "$GREET_ID"'
ctl get greet
check "get after rm: not found" rc_is 3
ctl rm big
check "rm, human" eval 'rc_is 0 && has "$OUT" "deleted big"'

echo "== pack: byte-identical to the server's upload"
SEED0="$TMP/data.0/hash_seed"  # the first server made its deployment seed here
check "the server keeps its hash seed in <data_dir>/hash_seed" [ -s "$SEED0" ]
ctl pack "$TMP/packme.js" --name packed-calc --hash_seed_file "$SEED0" --out "$TMP/calc.env"
PACK_ID=$OUT
check "pack prints an id that is the sha256 of the envelope it wrote" eval 'rc_is 0 && eq "$PACK_ID" "sha256:$(sha256sum "$TMP/calc.env" | cut -d" " -f1)"'
ctl upload "$TMP/packme.js" --name packed-calc --json
check "pack id == UploadSnapshot id of a new upload (script)" eval 'rc_is 0 && eq "$(json "d[\"snapshot\"][\"id\"]")" "$PACK_ID" && eq "$(json "d[\"created\"]")" true'
ctl pack "$TMP/packme.js" --name other-name --hash_seed_file "$SEED0" --out "$TMP/other.env"
check "the name is not part of the envelope" eval 'rc_is 0 && eq "$OUT" "$PACK_ID"'
ctl pack "$TMP/packme.js" --name packed-calc --hash_seed_file "$SEED0" --isolation fresh --out "$TMP/other.env"
check "another spec flag is another envelope (the comparison is not trivial)" eval 'rc_is 0 && [[ "$OUT" =~ ^sha256: ]] && [ "$OUT" != "$PACK_ID" ]'
FLAGS=(--esm --isolation fresh --min_warm 1 --max_isolates 2 --timeout_ms 500 --cpu_ms 400
  --heap_mib 32 --clear-code --warmup "$TMP/warm.js" --seed_time_ms 1700000000000)
ISOPOOL_HASH_SEED=$(cat "$SEED0") ctl pack "$TMP/greet.mjs" --name packed-greet "${FLAGS[@]}" --out "$TMP/greet.env" --json
ESM_PACK_ID=$(json 'd["id"]')
check "pack --json (ESM, every spec flag, seed from ISOPOOL_HASH_SEED)" eval 'rc_is 0 && [[ "$ESM_PACK_ID" =~ ^sha256: ]] && eq "$(json "d[\"envelope_bytes\"]")" "$(stat -c %s "$TMP/greet.env")"'
ctl upload "$TMP/greet.mjs" --name packed-greet "${FLAGS[@]}" --json
check "pack id == UploadSnapshot id of a new upload (ESM, every spec flag)" eval 'rc_is 0 && eq "$(json "d[\"snapshot\"][\"id\"]")" "$ESM_PACK_ID" && eq "$(json "d[\"created\"]")" true'
ISOPOOL_HASH_SEED= ctl pack "$TMP/packme.js" --name packed-calc --out "$TMP/noseed.env"
check "pack without a hash seed: usage error, nothing written" eval 'rc_is 2 && has "$ERR" "hash seed" && [ ! -e "$TMP/noseed.env" ]'
ctl pack "$TMP/bad.js" --name bad --hash_seed_file "$SEED0" --out "$TMP/bad.env"
check "pack of a bundle that does not build: invalid argument" eval 'rc_is 4 && [ ! -e "$TMP/bad.env" ]'
ctl upload "$TMP/calc.env" --name prebuilt-calc --prebuilt
check "--prebuilt to a default server: FAILED_PRECONDITION (exit 7)" eval 'rc_is 7 && has "$ERR" "FAILED_PRECONDITION"'

echo "== a server with a given seed that accepts prebuilt envelopes and small uploads only"
SEED1=0x5eed1234abcd
ISOPOOL_HASH_SEED=$SEED1 start_server --allow_prebuilt_envelopes --max_upload_bytes=1048576
ISOPOOL_HASH_SEED=$SEED1 ctl pack "$TMP/packme.js" --name packed-calc --out "$TMP/calc1.env"
PACK1_ID=$OUT
check "another deployment seed is another envelope" eval 'rc_is 0 && [[ "$PACK1_ID" =~ ^sha256: ]] && [ "$PACK1_ID" != "$PACK_ID" ]'
ctl upload "$TMP/calc1.env" --name packed-calc --prebuilt --json
check "upload --prebuilt keeps the pack's id" eval 'rc_is 0 && eq "$(json "d[\"snapshot\"][\"id\"]")" "$PACK1_ID"'
ctl exec packed-calc --function mul --args '[6, 7]'
check "the prebuilt snapshot executes" eval 'rc_is 0 && eq "$OUT" 42'
ctl upload "$TMP/calc.env" --name other-seed --prebuilt
check "an envelope packed with another deployment's seed is refused" eval 'rc_is 4 && has "$ERR" "INVALID_ARGUMENT"'
ctl upload "$TMP/big.js" --name big
check "a bundle over --max_upload_bytes: RESOURCE_EXHAUSTED (exit 5)" eval 'rc_is 5 && has "$ERR" "RESOURCE_EXHAUSTED"'

echo "== a server with non-default build settings: pack reads them as the server does"
# --v8_flags is part of every envelope (its compatibility digest), so a pack that ignored the
# server's settings would report another id.
ISOPOOL_HASH_SEED=$SEED1 ISOPOOL_V8_FLAGS=--no-opt start_server
ISOPOOL_HASH_SEED=$SEED1 ISOPOOL_V8_FLAGS=--no-opt ctl pack "$TMP/packme.js" --name v8-flags --out "$TMP/flags.env"
FLAGS_PACK_ID=$OUT
check "pack under the server's ISOPOOL_V8_FLAGS is another envelope" eval 'rc_is 0 && [[ "$FLAGS_PACK_ID" =~ ^sha256: ]] && [ "$FLAGS_PACK_ID" != "$PACK1_ID" ]'
ISOPOOL_HASH_SEED=$SEED1 ctl pack "$TMP/packme.js" --name v8-flags --v8_flags=--no-opt --out "$TMP/flags2.env"
check "pack --v8_flags gives the same envelope as ISOPOOL_V8_FLAGS" eval 'rc_is 0 && eq "$OUT" "$FLAGS_PACK_ID"'
ctl upload "$TMP/packme.js" --name v8-flags --json
check "pack id == UploadSnapshot id on a server with --v8_flags" eval 'rc_is 0 && eq "$(json "d[\"snapshot\"][\"id\"]")" "$FLAGS_PACK_ID"'
ISOPOOL_HASH_SEED=$SEED1 ctl pack "$TMP/packme.js" --name v8-flags --max_build_heap_mib x --out "$TMP/flags3.env"
check "a build setting that is not a number: usage error" eval 'rc_is 2 && has "$ERR" "max_build_heap_mib"'

finish
