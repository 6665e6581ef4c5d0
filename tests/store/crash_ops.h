// The deterministic operation sequence the crash test's writer performs, and the model of
// what the names index should hold after a prefix of it. Shared by crash_writer (the child
// that gets SIGKILLed) and crash_test (the parent that checks what survived).

#ifndef ISOPOOL_TESTS_STORE_CRASH_OPS_H_
#define ISOPOOL_TESTS_STORE_CRASH_OPS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "store/snapshot_store.h"

namespace isopool::store::testing {

struct CrashOp {
  enum Kind { kPutAndName, kPutThenSetName, kDeleteName, kDeleteById };
  Kind kind;
  std::string name;
  uint64_t seed;  // envelope seed (Put*, DeleteById)
};

// Operation number `index` (a pure function of it).
CrashOp CrashOpAt(uint64_t index);

// The envelope for a seed (its size depends only on the seed).
std::string CrashEnvelope(uint64_t seed);
std::string CrashEnvelopeId(uint64_t seed);

// name -> id, as List shows it.
using NameModel = std::map<std::string, std::string>;

void ApplyToModel(const CrashOp& op, NameModel* model);

// Runs the op against a store. NotFound from deletes is fine (the name may not exist).
absl::Status RunCrashOp(const CrashOp& op, SnapshotStore& store);

}  // namespace isopool::store::testing

#endif  // ISOPOOL_TESTS_STORE_CRASH_OPS_H_
