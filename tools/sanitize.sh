#!/usr/bin/env bash
# Runs tests under a sanitizer, with the suppression files by absolute path.
#
#   tools/sanitize.sh asan [targets...]   ASan + UBSan + LeakSanitizer (default: //tests/...)
#   tools/sanitize.sh tsan [targets...]   ThreadSanitizer (default: base, engine, pool, store,
#                                         worker and service tests; targets tagged no_tsan are
#                                         skipped)
#
# Suppressions (tools/sanitizers/*.supp) cover only uninstrumented system libraries (libnode,
# c-ares, absl); each entry says why. ThreadSanitizer runs the in-process suites: the end-to-end
# tests start the server as a child process, which would need its own TSan build of gRPC, and
# tests that call the service through an in-process gRPC server are tagged no_tsan for the same
# reason (tests/service:isopool_service_threads_test calls its handlers without gRPC threads
# instead). Locks TSan must see are base::Mutex (std::mutex underneath): Debian's absl is not
# instrumented, so to TSan an absl::Mutex is no lock at all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kind=${1:?usage: tools/sanitize.sh asan|tsan [targets...]}
shift
supp="$PWD/tools/sanitizers"
case "$kind" in
  asan)
    targets=("${@:-//tests/...}")
    exec bazel test --config=asan \
      --test_env=LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" \
      "${targets[@]}" ;;
  tsan)
    [ $# -gt 0 ] && targets=("$@") ||
      targets=(//tests/base/... //tests/engine/... //tests/pool/... //tests/store/... //tests/worker/...
        //tests/service/...)
    exec bazel test --config=tsan --test_tag_filters=-no_tsan \
      --test_env=TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp" \
      "${targets[@]}" ;;
  *) echo "unknown sanitizer: $kind (asan or tsan)" >&2; exit 2 ;;
esac
