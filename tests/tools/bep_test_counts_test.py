#!/usr/bin/python3
"""tools/bep_test_counts.py counts test targets from real Build Event Protocol files.

For each fixture in bep/ (bep/README.md): the "PASSED FAILED" line on stdout and the failed
targets with their status on stderr. Cached passes count as passed; FAILED, FLAKY, TIMEOUT,
NO STATUS and failed-to-build count as failed; a non-test target never counts; a build that
broke before any test was known, a file cut short and a missing file each count one failure.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.realpath(__file__))
RUNFILES = os.environ.get("RUNFILES_DIR") or os.environ["TEST_SRCDIR"]
TOOL = os.path.join(RUNFILES, "isopool", "tools", "bep_test_counts.py")
FIXTURES = os.path.join(RUNFILES, "isopool", "tests", "tools", "bep")

# fixture -> (passed, {failed label: word its reason must contain})
WANT = {
    "all_passed.json": (2, {}),
    "keep_going.json": (1, {"//t:fail_test": "FAILED", "//t:flaky_test": "FLAKY",
                            "//t:slow_test": "TIMEOUT", "//t:broken_test": "FAILED_TO_BUILD"}),
    "keep_going_cached.json": (2, {"//t:fail_test": "FAILED", "//t:slow_test": "TIMEOUT",
                                   "//t:broken_test": "FAILED_TO_BUILD",
                                   "//u:bad_analysis_test": "FAILED_TO_BUILD"}),
    "build_stopped.json": (0, {f"//t:{t}_test": "NO_STATUS"
                               for t in ("pass", "fail", "flaky", "slow", "broken")} |
                           {"//u:bad_analysis_test": "NO_STATUS"}),
    "analysis_failure.json": (0, {"//u:bad_analysis_test": "FAILED_TO_BUILD",
                                  "//t:pass_test": "NO_STATUS"}),
    "loading_failure.json": (0, {"(build)": "Package 'w' contains errors"}),
}


def run(path):
    p = subprocess.run([TOOL, path], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"{TOOL} {path} exited {p.returncode}: {p.stderr}")
    passed, failed = (int(x) for x in p.stdout.split())
    reasons = {}
    for line in p.stderr.splitlines():
        assert line.startswith("failed: "), f"unexpected stderr line {line!r}"
        label, why = line[len("failed: "):].split(" ", 1)
        reasons[label] = why
    return passed, failed, reasons


def check(name, path, want_passed, want_failed, errors):
    before = len(errors)
    passed, failed, reasons = run(path)
    if (passed, failed) != (want_passed, len(want_failed)):
        errors.append(f"{name}: counted {passed} passed, {failed} failed; want "
                      f"{want_passed} passed, {len(want_failed)} failed")
    if set(reasons) != set(want_failed):
        errors.append(f"{name}: failed targets {sorted(reasons)}, want {sorted(want_failed)}")
    for label, word in want_failed.items():
        if word not in reasons.get(label, word):
            errors.append(f"{name}: {label} failed for {reasons[label]!r}, want {word!r}")
    print(f"{'ok  ' if len(errors) == before else 'FAIL'} {name}: {passed} passed, {failed} failed")


def main():
    errors = []
    for name, (passed, failed) in WANT.items():
        check(name, os.path.join(FIXTURES, name), passed, failed, errors)
    missing = sorted(set(os.listdir(FIXTURES)) - set(WANT) - {"README.md"})
    if missing:
        errors.append(f"fixtures without expectations: {missing}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as tmp:
        # Bazel died before its last event: everything seen passed, yet the run is not green.
        cut = os.path.join(tmp, "cut.json")
        with open(os.path.join(FIXTURES, "all_passed.json")) as f:
            lines = f.readlines()
        with open(cut, "w") as f:
            f.writelines(lines[:-1])
        check("all_passed.json cut before its last event", cut, 2,
              {"(build)": "ends early"}, errors)
        check("no event file", os.path.join(tmp, "absent.json"), 0,
              {"(build)": "no build event file"}, errors)
    for e in errors:
        print("FAIL " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
