// spec.h: what an upload's SnapshotSpec becomes -- the engine::PackOptions it is packed with,
// under the server's build settings. Shared by the server (UploadSnapshot) and `isopoolctl pack`,
// so that both build byte-identical envelopes from the same bundle, spec and settings. Depends
// on the proto, engine/pack_options.h and store name validation only: no gRPC server, no V8.
//
// Plain functions and values; thread-safe.
#ifndef ISOPOOL_SERVICE_SPEC_H_
#define ISOPOOL_SERVICE_SPEC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "engine/pack_options.h"
#include "isopool/v1/isopool.pb.h"

namespace isopool::service {

// The server settings that decide whether a spec is accepted and what it builds into. The server
// reads them from its flags (config.h); `isopoolctl pack` from its own flags and the same
// ISOPOOL_* variables. The defaults here are the server's flag defaults.
struct BuildSettings {
  // Extra V8 flags; part of every envelope (its compatibility digest).
  std::vector<std::string> v8_flags;
  uint32_t default_build_timeout_ms = 10000;
  uint32_t max_build_timeout_ms = 60000;
  uint32_t default_build_heap_mib = 256;
  uint32_t max_build_heap_mib = 1024;
  int max_isolates_per_snapshot = 16;
};

// The settings' names, as the server's flags (--name) spell them.
inline constexpr const char* kBuildSettingNames[] = {"v8_flags",
                                                     "default_build_timeout_ms",
                                                     "max_build_timeout_ms",
                                                     "default_build_heap_mib",
                                                     "max_build_heap_mib",
                                                     "max_isolates_per_snapshot"};

// The environment variable that sets a server flag: ISOPOOL_<NAME in upper case>.
std::string SettingEnvironmentVariable(absl::string_view name);

// The build settings from their text: `setting(name)` for each of kBuildSettingNames, nullopt
// keeping the default. v8_flags is space-separated. InvalidArgument naming the setting when a
// number does not parse.
using SettingText = std::function<absl::optional<std::string>(const std::string& name)>;
absl::StatusOr<BuildSettings> ReadBuildSettings(const SettingText& setting);

// Checks an upload's spec and turns it into pack options (build limits capped by the settings'
// maxima). The snapshot's pool policy and call defaults travel inside the envelope as
// annotations (keys below), so the same bundle with another policy is another snapshot id.
// InvalidArgument naming the bad field ("spec.name ...").
absl::Status SpecToPackOptions(const v1::SnapshotSpec& spec, const BuildSettings& settings,
                               engine::PackOptions* options);

// The envelope annotations SpecToPackOptions writes, read back by translate.h when a snapshot
// is restored. Absent = the server's default.
namespace annotation {
inline constexpr char kIsolation[] = "pool.isolation";  // fresh | context | shared
inline constexpr char kMinWarm[] = "pool.min_warm";
inline constexpr char kMaxIsolates[] = "pool.max_isolates";
inline constexpr char kTimeout[] = "limits.timeout_ms";
inline constexpr char kCpu[] = "limits.cpu_ms";
inline constexpr char kHeap[] = "limits.heap_mib";
inline constexpr char kResult[] = "limits.max_result_bytes";
}  // namespace annotation

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_SPEC_H_
