#!/usr/bin/env python3
"""Checks that every metric a Grafana dashboard queries is one the server exports.

    metric_names.py DASHBOARD.json NAMES [--expect-used FILE]

NAMES is either a list of metric family names (one a line, '#' comments allowed), such as
tests/deploy/expected_metric_families.txt, or a real Prometheus text payload from the server's
/metrics (recognised by its '# TYPE' lines), so the same check runs against a live server.
A name in a query is known when it is a family, or a family plus _bucket, _sum or _count.

--expect-used FILE: every family listed in FILE must also appear in some query, so that a
dashboard cannot pass by losing its panels.

Exit 0 when all is well; 1 with one line per problem otherwise; 2 on bad input.
"""

import json
import re
import sys

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "inf", "nan", "atan2",
}

# Aggregation operators may take their grouping first: sum by (le) (...).
AGGREGATORS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
}

# One token at a time, so that label matchers, strings, durations and numbers are skipped whole.
TOKEN = re.compile(
    r"""
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<braces>\{(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|[^{}"'`])*\})  # {job=~"$job"}
    | (?P<range>\[[^\]]*\])                       # [5m], [$__rate_interval], [1h:5m]
    | (?P<var>\$\{[^}]*\}|\$\w+)                  # Grafana variables
    | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![a-zA-Z0-9_:]))  # offset 1h30m
    | (?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<other>\S)
    """,
    re.VERBOSE,
)


def metric_names_in(expr):
    """Returns the metric names a PromQL expression reads, in order of appearance."""
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(expr)]
    names = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text.lower() in ("by", "without", "on", "ignoring", "group_left",
                                                "group_right"):
            # Skip the label list that follows: by (le, type).
            if nxt == "(":
                depth = 0
                i += 1
                while i < len(tokens):
                    if tokens[i][1] == "(":
                        depth += 1
                    elif tokens[i][1] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    i += 1
        elif kind == "ident" and text.lower() in AGGREGATORS and nxt.lower() in ("by", "without"):
            pass
        elif kind == "ident" and nxt != "(" and text.lower() not in KEYWORDS:
            names.append(text)
        i += 1
    return names


def exprs_in(node, path="$"):
    """Yields (path, expr) for every PromQL query in a dashboard: panel targets and variables."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key == "expr" and isinstance(value, str):
                yield where, value
            elif key == "query" and isinstance(value, str) and "label_values" in value:
                # Grafana's label_values(<series selector>, <label>): only the selector is PromQL.
                m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", value)
                if m:
                    yield where, m.group(1)
            else:
                yield from exprs_in(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from exprs_in(value, f"{path}[{i}]")


def load_names(path):
    """Family names from a plain list, or from a Prometheus text-format payload."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    families = set()
    if any(line.startswith("# TYPE ") for line in lines):
        for line in lines:
            if line.startswith("# TYPE "):
                families.add(line.split()[2])
            elif line and not line.startswith("#"):
                families.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group())
    else:
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line:
                families.add(line.split()[0])
    return families


def known(name, families):
    if name in families:
        return True
    return any(name.endswith(s) and name[: -len(s)] in families for s in HISTOGRAM_SUFFIXES)


def family_of(name, families):
    for s in HISTOGRAM_SUFFIXES:
        if name.endswith(s) and name[: -len(s)] in families:
            return name[: -len(s)]
    return name


def main(argv):
    args = argv[1:]
    expect_used = None
    if "--expect-used" in args:
        i = args.index("--expect-used")
        expect_used = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dashboard_path, names_path = args
    try:
        with open(dashboard_path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{dashboard_path}: not a readable JSON dashboard: {e}", file=sys.stderr)
        return 2
    families = load_names(names_path)
    if not families:
        print(f"{names_path}: no metric names in it", file=sys.stderr)
        return 2

    problems = []
    used = set()
    exprs = list(exprs_in(dashboard))
    if not exprs:
        problems.append(f"{dashboard_path}: no PromQL queries found")
    for where, expr in exprs:
        names = metric_names_in(expr)
        if not names:
            problems.append(f"{where}: no metric name found in query: {expr}")
        for name in names:
            if known(name, families):
                used.add(family_of(name, families))
            else:
                problems.append(f"{where}: unknown metric {name!r} (not in {names_path})")
    if expect_used:
        for name in sorted(load_names(expect_used) - used):
            problems.append(f"{dashboard_path}: no query uses {name!r}")

    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: {len(exprs)} queries, {len(used)} metric families, all known")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
