# Sourced by the examples tests after server_lib.sh: HAProxy (Debian, installed by
# tools/setup.sh --test) in front of the server, as the snapshot-affinity router of
# deploy/k8s/overlays/shared-store runs it (h2 both sides, hashing x-isopool-snapshot), logging
# each request's path and header value, so a test can see what a client put on the wire.
#
#   start_router   # after start_server; sets ROUTER_ADDR and ROUTER_LOG ("<path> <header>" lines)
start_router() {
  command -v haproxy >/dev/null || die "haproxy is missing; run tools/setup.sh --test"
  local port
  port=$(closed_port)
  ROUTER_LOG="$TMP/router.log"
  cat >"$TMP/haproxy.cfg" <<CFG
global
  log stdout format raw local0 info
defaults
  mode http
  log global
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  log-format "%HU %[capture.req.hdr(0)]"
frontend grpc
  bind 127.0.0.1:$port proto h2
  http-request capture req.hdr(x-isopool-snapshot) len 200
  default_backend isopool
backend isopool
  balance hdr(x-isopool-snapshot)
  hash-type consistent
  server s0 $SERVER_ADDR proto h2
CFG
  haproxy -f "$TMP/haproxy.cfg" -db >"$ROUTER_LOG" 2>&1 &
  CHILD_PIDS+=("$!")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  ROUTER_ADDR="127.0.0.1:$port"
}
