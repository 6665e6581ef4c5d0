#include "tests/store/crash_ops.h"

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "tests/store/test_util.h"

namespace isopool::store::testing {

using ::isopool::base::Sha256Hex;
namespace {

constexpr uint64_t kNames = 6;

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

CrashOp CrashOpAt(uint64_t index) {
  uint64_t r = Mix(index);
  CrashOp op;
  op.name = absl::StrCat("name-", r % kNames);
  uint64_t back = 1 + (r >> 8) % 4;  // an earlier op's envelope, for duplicates and deletes
  uint64_t earlier = index >= back ? index - back : index;
  switch ((r >> 16) % 10) {
    case 0:
      op.kind = CrashOp::kDeleteName;
      op.seed = index;
      break;
    case 1:
      op.kind = CrashOp::kDeleteById;
      op.seed = earlier;
      break;
    case 2:
    case 3:
    case 4:
      op.kind = CrashOp::kPutThenSetName;
      op.seed = (r >> 24) % 4 == 0 ? earlier : index;
      break;
    default:
      op.kind = CrashOp::kPutAndName;
      op.seed = (r >> 24) % 4 == 0 ? earlier : index;
  }
  return op;
}

// Mostly new content of 200 KB..1.2 MB (real blobs are ~3 MB), so that most Puts really
// write and a kill often lands inside a write.
std::string CrashEnvelope(uint64_t seed) {
  return MakeEnvelope(seed, 200000 + Mix(seed ^ 0x5eed) % 1000000);
}

std::string CrashEnvelopeId(uint64_t seed) {
  return absl::StrCat("sha256:", Sha256Hex(CrashEnvelope(seed)));
}

void ApplyToModel(const CrashOp& op, NameModel* model) {
  switch (op.kind) {
    case CrashOp::kPutAndName:
    case CrashOp::kPutThenSetName:
      (*model)[op.name] = CrashEnvelopeId(op.seed);
      break;
    case CrashOp::kDeleteName:
      model->erase(op.name);
      break;
    case CrashOp::kDeleteById: {
      const std::string id = CrashEnvelopeId(op.seed);
      for (auto it = model->begin(); it != model->end();) {
        it = it->second == id ? model->erase(it) : std::next(it);
      }
      break;
    }
  }
}

absl::Status RunCrashOp(const CrashOp& op, SnapshotStore& store) {
  SnapshotMetadata meta = MakeMetadata(op.seed);
  switch (op.kind) {
    case CrashOp::kPutAndName:
      return store.PutAndName(op.name, CrashEnvelope(op.seed), meta).status();
    case CrashOp::kPutThenSetName: {
      auto put = store.Put(CrashEnvelope(op.seed), meta);
      if (!put.ok()) return put.status();
      return store.SetName(op.name, put->id).status();
    }
    case CrashOp::kDeleteName: {
      absl::Status s = store.DeleteName(op.name).status();
      return absl::IsNotFound(s) ? absl::OkStatus() : s;
    }
    case CrashOp::kDeleteById: {
      absl::Status s = store.Delete(CrashEnvelopeId(op.seed)).status();
      return absl::IsNotFound(s) ? absl::OkStatus() : s;
    }
  }
  return absl::InternalError("unknown op");
}

}  // namespace isopool::store::testing
