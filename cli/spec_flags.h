// spec_flags.h: the SnapshotSpec flags shared by `upload` and `pack`, so both describe a
// snapshot the same way (and `pack` can reproduce the server's envelope byte for byte).
//
// Plain functions; no state.
#ifndef ISOPOOL_CLI_SPEC_FLAGS_H_
#define ISOPOOL_CLI_SPEC_FLAGS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "cli/command_line.h"
#include "isopool/v1/isopool.pb.h"

namespace isopool::cli {

// --name --esm --entry --isolation --min_warm --max_isolates --timeout_ms --cpu_ms --heap_mib
// --max_result_bytes --prewarm --warmup --no-deterministic --seed_time_ms --clear-code
// --build_timeout_ms --build_heap_mib
std::vector<FlagSpec> SpecFlags();

// The flags' help text, shared by both commands' --help.
extern const char kSpecFlagsHelp[];

// The spec the flags describe. InvalidArgument for a missing --name, a bad number, an unknown
// --isolation, or an unreadable --warmup file.
absl::StatusOr<v1::SnapshotSpec> SpecFromFlags(const CommandLine& line);

}  // namespace isopool::cli

#endif  // ISOPOOL_CLI_SPEC_FLAGS_H_
