// gtest main for pool tests: V8 allows one runtime per process, initialised before any test.
#include "engine/runtime.h"
#include "gtest/gtest.h"
#include "tests/pool/pool_test_util.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  isopool::engine::RuntimeOptions options;
  options.argv0 = argv[0];
  options.platform_threads = 2;
  options.hash_seed = isopool::pool::testing::kTestHashSeed;
  if (!isopool::engine::InitializeRuntime(options).ok()) return 1;
  return RUN_ALL_TESTS();
}
