#!/usr/bin/env bash
# Installs whatever isopool needs that this Debian 12 machine lacks, and nothing else.
# Idempotent and quiet: prints only what it installs.
#
#   tools/setup.sh          what building and serving needs
#   tools/setup.sh --test   also what the test suite needs (promtool, Node, python3-grpcio, ...)
#
# V8 10.2 comes from Debian's libnode108 + libnode-dev. They cannot be apt-installed beside a
# nodesource Node 20, so they are fetched with `apt-get download` and unpacked with `dpkg -x`
# into third_party/v8/root (git-ignored). That works whether or not apt could install them.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

build_pkgs=(
  clang g++ pkg-config git ca-certificates
  bazel-bootstrap bazel-rules-java
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libseccomp-dev
  # The shared snapshot store's clients: PostgreSQL (libpq) and S3 over libcurl with SigV4.
  libpq-dev libcurl4-openssl-dev
  # The isolates' web runtime: OpenSSL 3 (crypto) and ICU (URL hosts, UTS #46).
  libssl-dev libicu-dev
  # libnode108's runtime dependencies (it is unpacked, not installed, so apt does not pull them).
  libuv1 libc-ares2 libicu72 libbrotli1 libnghttp2-14 libssl3 zlib1g
)
test_pkgs=(prometheus python3 python3-grpcio procps curl clang-format clang-tidy
  # Real dependencies of the shared-store tests: PostgreSQL 15, a one-node Ceph with radosgw
  # (tests/fixtures/start_ceph.sh), and HAProxy for the affinity router.
  postgresql-15 radosgw ceph-mon ceph-osd ceph-common haproxy)

missing=()
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "${build_pkgs[@]}"; do is_installed "$p" || missing+=("$p"); done
# Node.js and npm: the build bundles pinned npm packages into the web runtime (engine/web).
# Any installed node (Debian's or nodesource's) will do.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ $want_test = 1 ]; then
  for p in "${test_pkgs[@]}"; do is_installed "$p" || missing+=("$p"); done
  # kubectl kustomize renders deploy/k8s; Debian ships kubectl in kubernetes-client.
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
fi

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  echo "setup: installing $*"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

v8_root="$repo/third_party/v8/root"
if [ ! -f "$v8_root/usr/lib/x86_64-linux-gnu/libnode.so.108" ] ||
   [ ! -f "$v8_root/usr/include/node/v8-version.h" ]; then
  echo "setup: unpacking V8 10.2 (libnode108, libnode-dev) into third_party/v8/root"
  [ $apt_updated = 1 ] || { "${sudo_cmd[@]}" apt-get update -qq >/dev/null; apt_updated=1; }
  tmp=$(mktemp -d)
  chmod 777 "$tmp"  # apt's _apt user downloads into it
  (cd "$tmp" && apt-get download -qq libnode108 libnode-dev >/dev/null 2>&1) ||
    (cd "$tmp" && "${sudo_cmd[@]}" apt-get download -qq libnode108 libnode-dev >/dev/null)
  rm -rf "$v8_root.tmp"
  mkdir -p "$v8_root.tmp"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$v8_root.tmp"; done
  rm -rf "$tmp" "$v8_root"
  mv "$v8_root.tmp" "$v8_root"
fi

# The npm packages the build bundles into the isolates' web runtime (whatwg-url, esbuild),
# pinned by engine/web/npm/package-lock.json; quiet when already installed from that lock.
bash "$repo/tools/npm_test_deps.sh" "$repo/engine/web/npm"
