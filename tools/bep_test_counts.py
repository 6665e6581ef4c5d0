#!/usr/bin/python3
"""Counts test targets from Bazel's Build Event Protocol; tools/test.sh prints the result.

    tools/bep_test_counts.py FILE     (FILE from `bazel test --build_event_json_file=FILE`)

Prints "PASSED FAILED" (two numbers) on stdout and one line per failed target on stderr.

A test target is a label whose `targetConfigured` event carries a `testSize` (Bazel sets it for
test rules only) or that has a `testSummary` event. It passed when its testSummary says
`overallStatus: PASSED` (cached or not). Everything else is a failure: FAILED, FLAKY, TIMEOUT,
INCOMPLETE, NO_STATUS (the field missing), a testSummary that is `aborted` (the test never ran
because the build stopped), and no testSummary at all (the target failed to build: its
`targetCompleted` is `aborted` or has no `success`).

When the build failed (`buildFinished` exit code other than SUCCESS or TESTS_FAILED) but no test
target counts as failed — e.g. a BUILD file does not load, so no target is ever configured —
that failure is counted as one failed target, so the counts never read as all-green. So is a
FILE that is missing or ends without Bazel's last message (Bazel died).
"""

import json
import sys

# buildFinished exit codes that test results fully explain.
EXPLAINED_EXIT_CODES = {"SUCCESS", "TESTS_FAILED"}


def count(lines):
    """Returns (passed labels, {failed label: why}) for the BEP JSON lines."""
    tests = {}  # test labels, in first-seen order
    status = {}  # label -> overallStatus from its testSummary
    not_built = {}  # label -> why it has no testSummary
    exit_code, last_message, pattern_errors = None, False, []

    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        last_message = last_message or event.get("lastMessage", False)
        kind, id_ = next(iter(event["id"].items()))
        if kind == "targetConfigured" and "testSize" in event.get("configured", {}):
            tests.setdefault(id_["label"])
        elif kind == "testSummary":
            tests.setdefault(id_["label"])
            summary = event.get("testSummary")
            status[id_["label"]] = (summary.get("overallStatus", "NO_STATUS") if summary
                                    else "NO_STATUS (aborted: " +
                                    event.get("aborted", {}).get("reason", "the build stopped") + ")")
        elif kind == "targetCompleted":
            if "aborted" in event:
                not_built.setdefault(id_["label"], "NO_STATUS (aborted: " + event["aborted"].get(
                    "reason", "the build stopped") + ")")
            elif not event.get("completed", {}).get("success"):
                not_built[id_["label"]] = "FAILED_TO_BUILD"
        elif kind == "pattern" and "aborted" in event:
            pattern_errors.append(event["aborted"].get("description", "pattern failed"))
        elif kind == "buildFinished":
            exit_code = event.get("finished", {}).get("exitCode", {}).get("name", "SUCCESS")

    passed, failed = [], {}
    for label in tests:
        if status.get(label) == "PASSED":
            passed.append(label)
        else:
            failed[label] = status.get(label) or not_built.get(label, "NO_STATUS (never ran)")
    if not failed:
        if not last_message:
            failed["(build)"] = "the event file ends early: Bazel stopped before its last event"
        elif exit_code not in EXPLAINED_EXIT_CODES:
            failed["(build)"] = f"bazel exited {exit_code}: " + ("; ".join(pattern_errors) or
                                                                 "see its output above")
    return passed, failed


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        with open(sys.argv[1]) as f:
            passed, failed = count(f)
    except OSError as e:
        passed, failed = [], {"(build)": f"no build event file: {e}"}
    for label, why in failed.items():
        print(f"failed: {label} {why}", file=sys.stderr)
    print(len(passed), len(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
