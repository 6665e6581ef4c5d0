#!/usr/bin/env python3
"""Checks deploy/docker/Dockerfile against the repository and the service contract.

    check_dockerfile.py REPO_ROOT

There is no Docker engine here, so the image cannot be built; this checks what can be checked
without one:
  - every COPY/ADD source from the build context exists in the repository, and is not dropped
    by deploy/docker/Dockerfile.dockerignore;
  - every COPY --from=<stage> names an earlier stage, and its source directory is written by a
    RUN in that stage;
  - the build stage runs tools/setup.sh and builds both binaries with Bazel;
  - the runtime stage installs exactly the contract's runtime libraries, runs as uid 10001,
    exposes 50051 and 9464, puts isopool_pack and isopool_worker beside isopool_server and libnode.so.108 where
    the loader finds it, and starts the server with the Kubernetes addresses and data dir.
Exit 0 when all hold, 1 with one line per problem otherwise.
"""

import fnmatch
import glob
import json
import os
import shlex
import sys

BASE_IMAGE = "debian:bookworm-slim"
# The runtime libraries of the service contract, and nothing else.
RUNTIME_PACKAGES = {
    "libgrpc++1.51", "libprotobuf32", "libabsl20220623", "libprometheus-cpp-core1.0",
    "libprometheus-cpp-pull1.0", "libuv1", "libc-ares2", "libicu72", "libbrotli1",
    "libnghttp2-14", "libssl3", "zlib1g",
}
ENTRYPOINT_FLAGS = {"--listen=0.0.0.0:50051", "--metrics_listen=0.0.0.0:9464",
                    "--data_dir=/var/lib/isopool"}


def instructions(text):
    """Yields (line_number, INSTRUCTION, arguments) with continuations joined, comments dropped."""
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        yield start, word.upper(), rest.strip()
        buf = ""


def split_copy(args):
    """COPY/ADD arguments -> (flags dict, sources, destination)."""
    flags = {}
    if args.lstrip().startswith("["):
        words = json.loads(args)
    else:
        words = shlex.split(args)
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words[:-1], words[-1] if words else ""


def ignore_patterns(path):
    if not os.path.exists(path):
        return []
    pats = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line.rstrip("/"))
    return pats


def ignored(rel, patterns):
    """Docker's rule, simplified: a path is dropped if it or a parent matches a pattern."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pat in patterns:
            if pat.startswith("!"):
                continue
            if fnmatch.fnmatchcase(prefix, pat) or (
                    pat.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], pat[3:])):
                return True
    return False


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    dockerfile = os.path.join(root, "deploy/docker/Dockerfile")
    with open(dockerfile, encoding="utf-8") as f:
        text = f.read()
    patterns = ignore_patterns(dockerfile + ".dockerignore")
    problems = []

    stages = []  # dicts: name, base, instructions
    for n, word, args in instructions(text):
        if word == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"name": name, "base": parts[0], "ins": [], "line": n})
            continue
        if not stages:
            problems.append(f"line {n}: {word} before FROM")
            continue
        stages[-1]["ins"].append((n, word, args))

    if len(stages) < 2:
        problems.append("expected a multi-stage build (build stage + runtime stage)")
        for p in problems:
            print(p)
        return 1
    for st in stages:
        if st["base"] != BASE_IMAGE:
            problems.append(f"line {st['line']}: stage based on {st['base']}, want {BASE_IMAGE}")

    names = {}
    for idx, st in enumerate(stages):
        for n, word, args in st["ins"]:
            if word not in ("COPY", "ADD"):
                continue
            flags, sources, dest = split_copy(args)
            if not sources or not dest:
                problems.append(f"line {n}: {word} needs a source and a destination")
                continue
            if "from" in flags:
                src_stage = names.get(flags["from"])
                if src_stage is None:
                    problems.append(f"line {n}: --from={flags['from']} is not an earlier stage")
                    continue
                runs = " ".join(a for _, w, a in src_stage["ins"] if w == "RUN")
                for s in sources:
                    if os.path.dirname(s) not in runs and s not in runs:
                        problems.append(f"line {n}: {s} is not written by any RUN in stage "
                                        f"{flags['from']}")
                continue
            for s in sources:
                rel = os.path.normpath(s).lstrip("/")
                matches = glob.glob(os.path.join(root, rel))
                if not matches:
                    problems.append(f"line {n}: {word} source {s!r} does not exist in the repo")
                elif rel != "." and ignored(rel, patterns):
                    problems.append(f"line {n}: {word} source {s!r} is excluded by "
                                    "Dockerfile.dockerignore")
        if st["name"]:
            names[st["name"]] = st

    build, runtime = stages[0], stages[-1]
    build_runs = [a for _, w, a in build["ins"] if w == "RUN"]
    if not any("tools/setup.sh" in r for r in build_runs):
        problems.append("build stage does not run tools/setup.sh")
    if not any("bazel build" in r and "//service:isopool_server" in r
               and "//service:isopool_pack" in r and "//service:isopool_worker" in r
               for r in build_runs):
        problems.append("build stage does not bazel build //service:isopool_server, "
                        "//service:isopool_pack and //service:isopool_worker")

    installed = set()
    for _, w, a in runtime["ins"]:
        if w == "RUN" and "apt-get install" in a:
            cmd = a.split("apt-get install", 1)[1].split("&&")[0]
            installed |= {t for t in cmd.split() if not t.startswith("-")}
    if installed != RUNTIME_PACKAGES:
        if RUNTIME_PACKAGES - installed:
            problems.append(f"runtime stage lacks {sorted(RUNTIME_PACKAGES - installed)}")
        if installed - RUNTIME_PACKAGES:
            problems.append(f"runtime stage installs extra {sorted(installed - RUNTIME_PACKAGES)}")

    def last(word):
        found = [a for _, w, a in runtime["ins"] if w == word]
        return found[-1] if found else None

    user = last("USER")
    if user is None or user.split(":")[0] != "10001":
        problems.append(f"runtime USER is {user!r}, want 10001")
    exposed = {p.split("/")[0] for a in [a for _, w, a in runtime["ins"] if w == "EXPOSE"]
               for p in a.split()}
    if not {"50051", "9464"} <= exposed:
        problems.append(f"EXPOSE {sorted(exposed)}, want 50051 and 9464")

    entry = last("ENTRYPOINT")
    try:
        entry_words = json.loads(entry) if entry else []
    except ValueError:
        entry_words = []
        problems.append("ENTRYPOINT is not in exec (JSON array) form; SIGTERM would go to a shell")
    if not entry_words or os.path.basename(entry_words[0]) != "isopool_server":
        problems.append(f"ENTRYPOINT does not start isopool_server: {entry!r}")
    if not ENTRYPOINT_FLAGS <= set(entry_words):
        problems.append(f"ENTRYPOINT lacks {sorted(ENTRYPOINT_FLAGS - set(entry_words))}")

    # Where each file lands in the runtime image.
    landed = {}
    for _, w, a in runtime["ins"]:
        if w == "COPY":
            _, sources, dest = split_copy(a)
            for s in sources:
                base = os.path.basename(s)
                landed[base] = os.path.join(dest, base) if dest.endswith("/") else dest
    server = landed.get("isopool_server")
    pack = landed.get("isopool_pack")
    worker = landed.get("isopool_worker")
    if not server or not pack or not worker:
        problems.append("runtime stage does not copy isopool_server, isopool_pack and "
                        "isopool_worker")
    elif os.path.dirname(server) != os.path.dirname(pack):
        problems.append(f"isopool_pack ({pack}) is not beside isopool_server ({server})")
    elif os.path.dirname(server) != os.path.dirname(worker):
        problems.append(f"isopool_worker ({worker}) is not beside isopool_server ({server})")
    elif entry_words and entry_words[0] != server:
        problems.append(f"ENTRYPOINT runs {entry_words[0]}, but the server is copied to {server}")
    libnode = landed.get("libnode.so.108")
    runtime_text = " ".join(a for _, w, a in runtime["ins"])
    if not libnode:
        problems.append("runtime stage does not copy libnode.so.108")
    elif not (os.path.dirname(libnode) in ("/usr/local/lib", "/usr/lib/x86_64-linux-gnu")
              and "ldconfig" in runtime_text) and "LD_LIBRARY_PATH" not in runtime_text:
        problems.append(f"libnode.so.108 at {libnode} is not on the loader's path")

    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: {len(stages)} stages, COPY sources present, runtime stage matches the contract")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
