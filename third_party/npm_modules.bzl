"""An npm folder's node_modules as an external repository, offline.

tools/setup.sh installs node_modules from the folder's package-lock.json (npm ci); this rule only
links it in, and fails with what to run when it is missing or stale.
"""

def _npm_modules_impl(rctx):
    folder = rctx.path(rctx.attr.lock).dirname
    modules = folder.get_child("node_modules")
    stamp = modules.get_child(".lockhash")
    if not stamp.exists:
        fail("%s/node_modules is missing: run tools/setup.sh (or tools/npm_test_deps.sh %s)" %
             (rctx.attr.folder, rctx.attr.folder))
    lock = rctx.execute(["sha256sum", str(rctx.path(rctx.attr.lock))])
    if lock.return_code != 0 or lock.stdout.split(" ")[0] != rctx.read(stamp).strip():
        fail("%s/node_modules was installed from another package-lock.json: run tools/setup.sh" %
             rctx.attr.folder)
    for entry in modules.readdir():
        rctx.symlink(entry, entry.basename)
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.template("BUILD.bazel", rctx.attr.build_file)

npm_modules = repository_rule(
    implementation = _npm_modules_impl,
    local = True,
    attrs = {
        "folder": attr.string(mandatory = True, doc = "the lock's folder, for messages"),
        "build_file": attr.label(mandatory = True, allow_single_file = True),
        # The folder's package-lock.json; node_modules is beside it.
        "lock": attr.label(mandatory = True, allow_single_file = True),
    },
)
