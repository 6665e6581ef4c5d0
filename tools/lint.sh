#!/usr/bin/env bash
# Lints what a change touches; exits 1 on any finding.
#
#   tools/lint.sh          lint the change (see "The change" below)
#   tools/lint.sh --all    every C++ file of the repository (slow: clang-tidy takes ~10 s a file)
#
# - clang-format (check only) on every changed .h/.cc file, whole files: format the files you
#   touch (`clang-format -i FILE`).
# - buildifier on changed BUILD/.bzl files, if installed. Debian 12 does not package it, so
#   this usually says so and checks nothing.
# - clang-tidy with the repository's .clang-tidy, on the changed lines of changed .h/.cc files
#   only (tools/tidy_diff.py), with Bazel's own compile commands (tools/compile_commands.py).
#   Needs a built tree: run after `bazel build //...` (tools/test.sh --lint does).
#
# The change is everything from BASE to the working tree (uncommitted edits included; files
# git does not track are not). BASE is $ISOPOOL_LINT_BASE if set, else the merge base of HEAD
# with origin/main (or with main when there is no origin). When that is HEAD itself (CI on
# main, or a branch with nothing new), BASE is HEAD's parent: the last commit is linted.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

all=0
[ "${1:-}" = "--all" ] && all=1

if [ $all = 0 ]; then
  base=${ISOPOOL_LINT_BASE:-}
  if [ -z "$base" ]; then
    upstream=main
    git rev-parse -q --verify origin/main >/dev/null && upstream=origin/main
    base=$(git merge-base HEAD "$upstream" 2>/dev/null || true)
    if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
      base=$(git rev-parse -q --verify HEAD~1 || git hash-object -t tree /dev/null)
    fi
  fi
  mapfile -t changed < <(git diff --name-only --diff-filter=d "$base" -- | grep -v '^third_party/')
  echo "lint: the change since $(git rev-parse --short "$base"): ${#changed[@]} files"
else
  mapfile -t changed < <(git ls-files | grep -v '^third_party/')
  echo "lint: all ${#changed[@]} files"
fi
cxx=()
build_files=()
for f in "${changed[@]}"; do
  case "$f" in
    *.h | *.cc) cxx+=("$f") ;;
    BUILD.bazel | */BUILD.bazel | *.bzl | WORKSPACE) build_files+=("$f") ;;
  esac
done
findings=0

# clang-format, whole files.
unformatted=()
for f in "${cxx[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
for f in "${unformatted[@]}"; do echo "lint: clang-format: $f is not formatted (clang-format -i $f)"; done
findings=$((findings + ${#unformatted[@]}))
echo "lint: clang-format: ${#cxx[@]} files checked, ${#unformatted[@]} not formatted"

# buildifier, whole files, if there is one.
if command -v buildifier >/dev/null; then
  if [ ${#build_files[@]} -gt 0 ] && ! buildifier -mode=check -lint=warn "${build_files[@]}"; then
    findings=$((findings + 1))
  fi
  echo "lint: buildifier: ${#build_files[@]} files checked"
else
  echo "lint: buildifier: not installed (Debian 12 does not package it); ${#build_files[@]} BUILD files not checked"
fi

# clang-tidy, changed lines only (or everything with --all).
if [ ${#cxx[@]} -gt 0 ]; then
  db=$(mktemp -d)
  trap 'rm -rf "$db"' EXIT
  if ! python3 tools/compile_commands.py --out "$db" 2>/dev/null; then
    echo "lint: clang-tidy: no compile commands from bazel aquery (does bazel build //... pass?)"
    exit 1
  fi
  if [ $all = 1 ]; then
    out=$(run-clang-tidy -quiet -p "$db" -j "$(nproc)" "^$PWD/" 2>/dev/null)
    tidy=$(grep -cE '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' <<<"$out")
    [ "$tidy" -gt 0 ] && echo "$out"
  else
    out=$(python3 tools/tidy_diff.py --base "$base" --db "$db" --jobs "$(nproc)" "${cxx[@]}")
    summary=$(tail -1 <<<"$out")
    tidy=$(grep -oE '[0-9]+ findings' <<<"$summary" | grep -oE '[0-9]+' || echo 1)
    [ "$tidy" -gt 0 ] && sed '$d' <<<"$out"
  fi
  findings=$((findings + tidy))
  echo "lint: clang-tidy: ${#cxx[@]} files checked, $tidy findings"
fi

if [ $findings -eq 0 ]; then echo "lint: PASSED"; else echo "lint: FAILED ($findings findings)"; fi
[ $findings -eq 0 ]
