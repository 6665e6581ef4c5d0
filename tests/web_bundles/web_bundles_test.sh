#!/usr/bin/env bash
# Real npm libraries that need the web platform (issue 12), bundled with esbuild for the browser
# from the versions pinned in package-lock.json, uploaded to the real server as ES modules and
# called: nanoid, uuid v4, crypto-js AES, zod .url(), lodash debounce/throttle with timers,
# WebAssembly.instantiate, and jose (JWTs signed and verified with keys generated in isopool, and
# tokens signed by Node verified in isopool). Each one failed before isopool had the web runtime.
# Needs tests/web_bundles/node_modules: run tools/npm_test_deps.sh tests/web_bundles. FAILS
# without it.
source "${TEST_SRCDIR:?run me with bazel test}/isopool/tests/cli/server_lib.sh"
CTL="$WS/cli/isopoolctl"
[ -x "$CTL" ] || die "no isopoolctl at $CTL"
# Unsandboxed ("local"): the source tree is where this script's runfiles symlink points.
DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
FIX="run: tools/npm_test_deps.sh tests/web_bundles"
[ -d "$DIR/node_modules" ] || die "tests/web_bundles/node_modules is missing; $FIX"
[ "$(cat "$DIR/node_modules/.lockhash" 2>/dev/null)" = "$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)" ] ||
  die "tests/web_bundles/node_modules is stale (package-lock.json changed); $FIX"
ESBUILD="$DIR/node_modules/@esbuild/linux-x64/bin/esbuild"

ctl() {
  set +e
  "$CTL" --addr "$SERVER_ADDR" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  RC=$?
  set -e
}
result() {  # the JSON result of the last `ctl --json exec`, or its error
  /usr/bin/python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read())
print(json.dumps(d["result"], separators=(",", ":")) if d.get("error") is None else "ERROR " + json.dumps(d["error"]))' \
    "$TMP/out" 2>/dev/null || { cat "$TMP/out" "$TMP/err"; }
}
# bundle NAME: bundles src/NAME.mjs for the browser and uploads it as an ES module.
bundle() {
  local name=$1
  "$ESBUILD" "$DIR/src/$name.mjs" --bundle --format=esm --platform=browser --target=chrome102 \
    --log-level=error --outfile="$TMP/$name.js" || die "esbuild failed for $name"
  ctl upload "$TMP/$name.js" --name "$name" --esm
  check "$name: the bundle uploads (packs)" eval '[ "$RC" -eq 0 ] || { cat "$TMP/err"; false; }'
}
# expect NAME FUNCTION ARGS WANT: calls FUNCTION(...ARGS) of snapshot NAME, compares the result.
expect() {
  local name=$1 function=$2 args=$3 want=$4
  ctl --json exec "$name" --function "$function" --args "$args" --timeout_ms 10000 --cpu_ms 10000
  local got
  got=$(result)
  local shown=$args
  [ ${#shown} -le 60 ] || shown="${shown:0:57}..."
  check "$name: $function($shown) = $want" eval '[ "$got" = "$want" ] || { echo "  got: $got" >&2; false; }'
}
call() { bundle "$1" && expect "$1" run "$2" "$3"; }

start_server --default_isolation=context --max_timeout_ms=10000 --max_cpu_ms=10000
call nanoid '[]' '{"length":21,"distinct":true,"custom":true}'
call uuid '[]' '{"valid":true,"version":4,"distinct":true}'
call crypto_js '["attack at dawn"]' '{"opened":"attack at dawn","salted":true}'
call zod '[["https://a.b/c","not a url","mailto:x@y.z","http://[::1]:8080/p"]]' '[true,false,true,true]'
call lodash '[]' '["throttle a","debounce 3","throttle c"]'
call wasm '[2,40]' '[42,80]'

# jose: keys generated in isopool sign and verify; tokens signed by Node verify in isopool.
bundle jose
for alg in ES256 ES384 EdDSA RS256 PS256; do
  expect jose roundTrip "[\"$alg\"]" \
    "{\"sub\":\"ada\",\"alg\":\"$alg\",\"scope\":\"read\",\"tampered\":\"ERR_JWS_SIGNATURE_VERIFICATION_FAILED\"}"
  signed=$(cd "$DIR" && node node_sign.mjs "$alg") || die "node could not sign with $alg"
  args=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps([d["token"], d["jwk"], sys.argv[2]]))' "$signed" "$alg")
  expect jose verify "$args" '{"sub":"from-node"}'
done
expect jose hmac '["a shared secret of 32 bytes or more"]' '1'
finish
