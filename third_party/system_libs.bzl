"""Turns Debian's system libraries into cc_library targets, offline, through pkg-config.

Each entry of _LIBS becomes @system//:<name>, a header-less cc_library whose linkopts come from
`pkg-config --libs` (the headers live in /usr/include, already on the compiler's path).
"""

# name -> (pkg-config modules, extra linkopts)
_LIBS = {
    "absl": (
        [
            "absl_base",
            "absl_flags",
            "absl_flags_parse",
            "absl_hash",
            "absl_raw_hash_set",
            "absl_status",
            "absl_statusor",
            "absl_strings",
            "absl_str_format",
            "absl_synchronization",
            "absl_time",
            "absl_random_random",
            "absl_cleanup",
        ],
        [],
    ),
    "crypto": (["libcrypto"], []),
    "seccomp": (["libseccomp"], []),
    # ICU's UTS #46 (URL hosts); the same libicuuc that libnode's V8 uses.
    "icu": (["icu-uc"], []),
    "protobuf": (["protobuf"], []),
    "grpc++": (["grpc++"], []),
    # libgrpc++_reflection has no .pc file.
    "grpc++_reflection": ([], ["-Wl,--no-as-needed", "-lgrpc++_reflection", "-Wl,--as-needed"]),
    "prometheus_cpp": (["prometheus-cpp-pull", "prometheus-cpp-core"], []),
    "gtest": (["gtest", "gmock"], []),
    "gtest_main": (["gtest_main", "gmock"], []),
    "benchmark": (["benchmark"], []),
    "benchmark_main": (["benchmark"], ["-lbenchmark_main"]),
}

def _pkg_config(rctx, modules):
    if not modules:
        return []
    result = rctx.execute(["pkg-config", "--libs"] + modules)
    if result.return_code != 0:
        fail("pkg-config --libs %s failed (run tools/setup.sh): %s" % (" ".join(modules), result.stderr))

    # Keep the first occurrence of each flag; pkg-config repeats absl's libraries many times.
    seen = {}
    flags = []
    for flag in result.stdout.strip().split(" "):
        if flag and flag not in seen:
            seen[flag] = True
            flags.append(flag)
    return flags

def _system_libs_impl(rctx):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, (modules, extra) in _LIBS.items():
        linkopts = _pkg_config(rctx, modules) + extra
        lines.append("cc_library(")
        lines.append('    name = "%s",' % name)
        lines.append("    linkopts = %s," % repr(linkopts))
        lines.append(")")
        lines.append("")
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.file("BUILD.bazel", "\n".join(lines))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    environ = ["PKG_CONFIG_PATH"],
)
