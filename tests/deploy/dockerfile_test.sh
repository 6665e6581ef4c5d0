#!/usr/bin/env bash
# deploy/docker/Dockerfile: dockerfilelint finds no issue (and does find them in a known-bad
# file, so a silent linter cannot pass), and check_dockerfile.py's rules hold (COPY sources
# exist, runtime stage matches the service contract), with their own negative tests.
source "$(dirname "$(readlink -f "$0")")/lib.sh"
need_node_modules
lint="$NODE_MODULES/.bin/dockerfilelint"

echo "== dockerfilelint deploy/docker/Dockerfile"
out=$("$lint" -j "$REPO/deploy/docker/Dockerfile") || { echo "$out"; die "dockerfilelint found issues"; }
node -e 'const r=JSON.parse(process.argv[1]); if (r.totalIssues!==0) process.exit(1)' "$out" ||
  { echo "$out"; die "dockerfilelint found issues"; }
echo "no issues"

echo "== dockerfilelint on a known-bad Dockerfile must complain"
if bad=$("$lint" -j "$REPO/tests/deploy/testdata/bad.Dockerfile"); then
  die "dockerfilelint passed tests/deploy/testdata/bad.Dockerfile"
fi
node -e 'const r=JSON.parse(process.argv[1]); const t=r.files[0].issues.map(i=>i.title).join("|");
  for (const w of ["Base Image Missing Tag","Missing parameter for `apt-get`","Consider `--no-install-recommends`"])
    if (!t.includes(w)) { console.error("missing: "+w+" in "+t); process.exit(1); }' "$bad" ||
  die "dockerfilelint did not report the expected issues"
echo "reported as expected"

echo "== check_dockerfile.py"
python3 "$REPO/tests/deploy/check_dockerfile.py" "$REPO"
python3 "$REPO/tests/deploy/check_dockerfile_test.py" "$REPO"
