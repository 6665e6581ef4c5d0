#!/usr/bin/env python3
"""Writes a compile_commands.json for clang-tidy (and editors) from Bazel's own compile actions.

    tools/compile_commands.py [--out DIR] [TARGET_PATTERN]

The commands are exactly Bazel's (`bazel aquery` of every CppCompile action under the pattern,
default //...), run from Bazel's execution root, so clang-tidy sees the same flags, include
paths and generated proto headers as the build. Build the targets first: the generated headers
must exist. Source paths are written as absolute paths in the workspace, so tools that name
files relative to the repository (clang-tidy-diff) find their commands.

Output flags that would make clang-tidy write into bazel-out (-MD, -MF, -o, -frandom-seed) are
dropped, and so are the layering check's module flags (-fmodule-name, -fmodule-map-file,
-fmodules-strict-decluse): the build enforces layering, and clang-tidy, run outside Bazel's
sandbox with them, reports includes that the build accepts (worker/call_runner.h's, checked
through worker/call_host.cc) as layering errors. Writes DIR/compile_commands.json (default: the workspace root, git-ignored).
"""

import argparse
import json
import os
import subprocess
import sys

# Flags (with their argument, if the second element is True) that only concern outputs.
_DROP = {"-MD": False, "-MF": True, "-o": True}
# Flags dropped by prefix: the random seed, and the layering check's module flags.
_DROP_PREFIXES = (
    "-frandom-seed=",
    "-fmodule-name=",
    "-fmodule-map-file=",
    "-fmodules-strict-decluse",
)


def _bazel(*args):
    return subprocess.run(["bazel", *args], check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pattern", nargs="?", default="//...")
    parser.add_argument("--out", default=None, help="directory for compile_commands.json")
    args = parser.parse_args()

    workspace = _bazel("info", "workspace").strip()
    execroot = _bazel("info", "execution_root").strip()
    query = 'mnemonic("CppCompile", %s)' % args.pattern
    actions = json.loads(_bazel("aquery", query, "--output=jsonproto")).get("actions", [])

    entries = {}
    for action in actions:
        argv = action["arguments"]
        command, skip = [], False
        source = None
        for i, arg in enumerate(argv):
            if skip:
                skip = False
                continue
            if arg in _DROP:
                skip = _DROP[arg]
                continue
            if arg.startswith(_DROP_PREFIXES):
                continue
            if arg == "-c" and i + 1 < len(argv):
                source = argv[i + 1]
            command.append(arg)
        if source is None or source.startswith(("external/", "bazel-out/")):
            continue  # generated or third-party sources: nothing to lint
        absolute = os.path.join(workspace, source)
        command = [absolute if arg == source else arg for arg in command]
        entries[absolute] = {"directory": execroot, "file": absolute, "arguments": command}

    out_dir = args.out or workspace
    path = os.path.join(out_dir, "compile_commands.json")
    with open(path, "w") as f:
        json.dump(sorted(entries.values(), key=lambda e: e["file"]), f, indent=1)
    print("%s: %d files" % (path, len(entries)), file=sys.stderr)


if __name__ == "__main__":
    main()
