#!/usr/bin/env python3
"""Tests check_dockerfile.py: the real Dockerfile passes, and each kind of mistake is caught.

    check_dockerfile_test.py REPO_ROOT
"""

import contextlib
import io
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import check_dockerfile  # noqa: E402

REPO = None


class CheckDockerfileTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(REPO, "deploy/docker/Dockerfile"), encoding="utf-8") as f:
            self.dockerfile = f.read()
        with open(os.path.join(REPO, "deploy/docker/Dockerfile.dockerignore"),
                  encoding="utf-8") as f:
            self.ignore = f.read()

    def run_on(self, dockerfile, ignore=None, files=("tools/setup.sh",)):
        """Runs the checker on a scratch repository holding `files`; returns (rc, output)."""
        root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, root)
        for rel in files:
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            open(os.path.join(root, rel), "w").close()
        os.makedirs(os.path.join(root, "deploy/docker"), exist_ok=True)
        with open(os.path.join(root, "deploy/docker/Dockerfile"), "w") as f:
            f.write(dockerfile)
        with open(os.path.join(root, "deploy/docker/Dockerfile.dockerignore"), "w") as f:
            f.write(self.ignore if ignore is None else ignore)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = check_dockerfile.main(["check_dockerfile.py", root])
        return rc, out.getvalue()

    def mutated(self, old, new):
        self.assertIn(old, self.dockerfile)
        return self.dockerfile.replace(old, new)

    def test_real_dockerfile_passes_against_the_repo(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = check_dockerfile.main(["check_dockerfile.py", REPO])
        self.assertEqual(rc, 0, out.getvalue())

    def test_real_dockerfile_passes_in_scratch_repo(self):
        rc, out = self.run_on(self.dockerfile)
        self.assertEqual(rc, 0, out)

    def test_missing_copy_source_is_caught(self):
        rc, out = self.run_on(self.dockerfile, files=())
        self.assertEqual(rc, 1)
        self.assertIn("'tools/setup.sh' does not exist", out)

    def test_ignored_copy_source_is_caught(self):
        rc, out = self.run_on(self.dockerfile, ignore=self.ignore + "tools\n")
        self.assertEqual(rc, 1)
        self.assertIn("excluded by Dockerfile.dockerignore", out)

    def test_unknown_stage_is_caught(self):
        rc, out = self.run_on(self.mutated("COPY --from=build /out/libnode",
                                           "COPY --from=builder /out/libnode"))
        self.assertEqual(rc, 1)
        self.assertIn("--from=builder is not an earlier stage", out)

    def test_extra_runtime_package_is_caught(self):
        rc, out = self.run_on(self.mutated("libssl3 zlib1g", "libssl3 zlib1g g++"))
        self.assertEqual(rc, 1)
        self.assertIn("installs extra ['g++']", out)

    def test_missing_runtime_package_is_caught(self):
        rc, out = self.run_on(self.mutated("libicu72 ", ""))
        self.assertEqual(rc, 1)
        self.assertIn("lacks ['libicu72']", out)

    def test_root_user_is_caught(self):
        rc, out = self.run_on(self.mutated("USER 10001:10001", "USER root"))
        self.assertEqual(rc, 1)
        self.assertIn("USER is 'root'", out)

    def test_pack_not_beside_server_is_caught(self):
        text = self.mutated(
            "COPY --from=build /out/isopool_server /out/isopool_pack /out/isopool_worker "
            "/usr/local/bin/",
            "COPY --from=build /out/isopool_server /out/isopool_worker /usr/local/bin/\n"
            "COPY --from=build /out/isopool_pack /usr/local/libexec/")
        rc, out = self.run_on(text)
        self.assertEqual(rc, 1)
        self.assertIn("is not beside isopool_server", out)

    def test_worker_not_beside_server_is_caught(self):
        text = self.mutated(
            "COPY --from=build /out/isopool_server /out/isopool_pack /out/isopool_worker "
            "/usr/local/bin/",
            "COPY --from=build /out/isopool_server /out/isopool_pack /usr/local/bin/\n"
            "COPY --from=build /out/isopool_worker /usr/local/libexec/")
        rc, out = self.run_on(text)
        self.assertEqual(rc, 1)
        self.assertIn("isopool_worker (/usr/local/libexec/isopool_worker) is not beside", out)

    def test_shell_form_entrypoint_and_missing_flag_are_caught(self):
        start = self.dockerfile.index("ENTRYPOINT [")
        text = self.dockerfile[:start] + "ENTRYPOINT /usr/local/bin/isopool_server\n"
        rc, out = self.run_on(text)
        self.assertEqual(rc, 1)
        self.assertIn("not in exec (JSON array) form", out)

    def test_wrong_listen_address_is_caught(self):
        rc, out = self.run_on(self.mutated('"--listen=0.0.0.0:50051"', '"--listen=127.0.0.1:50051"'))
        self.assertEqual(rc, 1)
        self.assertIn("ENTRYPOINT lacks ['--listen=0.0.0.0:50051']", out)

    def test_build_stage_without_setup_is_caught(self):
        rc, out = self.run_on(self.mutated("RUN tools/setup.sh\n", ""))
        self.assertEqual(rc, 1)
        self.assertIn("does not run tools/setup.sh", out)


if __name__ == "__main__":
    REPO = sys.argv.pop(1)
    unittest.main(verbosity=1)
