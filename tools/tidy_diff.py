#!/usr/bin/env python3
"""Runs clang-tidy on the lines a change touches; prints the findings, exits 1 if any.

    tools/tidy_diff.py --base REV --db DIR FILE...

FILEs are .h/.cc paths relative to the repository root. The changed lines come from
`git diff -U0 REV -- FILE...` (the working tree against REV). Each changed .cc file is its own
translation unit. A changed header is checked through a .cc file that includes it (its
namesake foo.cc first), because a header alone is not what the compiler sees (clang-tidy would
call the using-declarations a header exports unused). Only findings on changed lines count:
one -line-filter for every changed file goes to every run.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys

_FINDING = re.compile(r"^(\S+):(\d+):(\d+): (warning|error): ")


def changed_lines(base, files):
    """{path: [[first, last], ...]} of the lines the diff adds or changes."""
    diff = subprocess.run(["git", "diff", "-U0", base, "--", *files], check=True,
                          capture_output=True, text=True).stdout
    lines, path = {}, None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            path = line[6:] if line.startswith("+++ b/") else None
        elif line.startswith("@@") and path:
            m = re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
            first, count = int(m.group(1)), int(m.group(2) or "1")
            if count > 0:
                lines.setdefault(path, []).append([first, first + count - 1])
    return lines


def unit_for_header(header, sources):
    """A .cc file of the compile database that includes `header`, or None."""
    namesake = header[:-2] + ".cc"
    if namesake in sources:
        return namesake
    include = '#include "%s"' % header
    for source in sorted(sources):
        with open(source, errors="replace") as f:
            if include in f.read():
                return source
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--db", required=True, help="directory of compile_commands.json")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    root = os.getcwd()
    with open(os.path.join(args.db, "compile_commands.json")) as f:
        sources = {os.path.relpath(e["file"], root) for e in json.load(f)}
    lines = changed_lines(args.base, args.files)
    if not lines:  # only deletions: nothing to check
        print("0 translation units, 0 findings")
        return 0
    units = set()
    for path in lines:
        if path.endswith(".cc"):
            units.add(path)
        else:
            units.add(unit_for_header(path, sources) or path)
    # Names as clang reports them end with the repository path; clang-tidy matches by suffix.
    line_filter = json.dumps([{"name": p, "lines": r} for p, r in sorted(lines.items())])

    def tidy(unit):
        run = subprocess.run(["clang-tidy", "-p", args.db, "--quiet", "-line-filter=" + line_filter,
                              unit], capture_output=True, text=True)
        return run.stdout

    # A finding is its "file:line:col: warning:" line and the notes and source lines after it;
    # a header's finding reported from several units is shown once.
    blocks = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for out in pool.map(tidy, sorted(units)):
            key = None
            for line in out.splitlines():
                m = _FINDING.match(line)
                if m:
                    key = (os.path.realpath(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
                    if key in blocks:
                        key = None
                    else:
                        blocks[key] = [line]
                elif key is not None and not re.match(r"^\d+ warnings? (and \d+ errors? )?generated", line):
                    blocks[key].append(line)
    for key in sorted(blocks):
        print("\n".join(blocks[key]))
    findings = len(blocks)
    print("%d translation units, %d findings" % (len(units), findings))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
