// isopoolctl pack: builds an envelope offline, exactly as the server would (the same
// SpecToPackOptions with the target server's build settings, the same isopool_pack child
// process), so its sha256 is the snapshot id an upload of the same bundle and flags reports.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "base/hash_seed.h"
#include "base/sha256.h"
#include "base/sibling_binary.h"
#include "cli/cli.h"
#include "cli/spec_flags.h"
#include "engine/pack_process.h"
#include "service/spec.h"

namespace isopool::cli {
namespace {

const char kHelp[] =
    R"(Usage: isopoolctl pack FILE --out ENVELOPE --name NAME [--hash_seed_file F] [spec flags]

Builds the envelope (V8 snapshot + metadata) of a bundle offline, without a server, and prints
its snapshot id ("sha256:<hex>") on stdout. Given that server's hash seed and build settings
(below), the envelope is byte-identical to what the server stores for 'isopoolctl upload FILE'
with the same flags, so the id is a build-cache key for CI, and the envelope can be uploaded
with 'upload --prebuilt'.
The name is not part of the envelope (names move between snapshots); every other spec flag is,
so pass the same ones to 'upload'.

  --out ENVELOPE          where to write the envelope (written whole, then renamed into place)
  --hash_seed_file F      the target deployment's secret V8 hash seed, which every envelope
                          depends on: the server's <data_dir>/hash_seed (or what its
                          ISOPOOL_HASH_SEED holds). Without this flag, $ISOPOOL_HASH_SEED is
                          used; with neither, pack refuses (exit 2) rather than build an
                          envelope that no server can restore.
  --pack_binary PATH      the isopool_pack binary (default: $ISOPOOL_PACK_BINARY, else next to
                          isopoolctl, else in Bazel's runfiles)

The target server's build settings, read as the server reads them: the flag, else its
ISOPOOL_<FLAG> environment variable (so a CI job can share the server's ConfigMap), else the
server's default. --v8_flags is part of every envelope (its compatibility digest); the others
decide whether and how a bundle builds, and which pool specs are accepted.
  --v8_flags "FLAGS"  --default_build_timeout_ms N  --max_build_timeout_ms N
  --default_build_heap_mib N  --max_build_heap_mib N  --max_isolates_per_snapshot N

)";

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// The isopool_pack binary: --pack_binary, $ISOPOOL_PACK_BINARY, else found like the server
// finds it.
std::string FindPackBinary(const CommandLine& line) {
  if (line.Has("pack_binary")) return line.Get("pack_binary");
  if (const char* env = getenv("ISOPOOL_PACK_BINARY"); env != nullptr && *env != '\0') return env;
  return base::FindSiblingBinary("isopool_pack", "engine/isopool_pack");
}

// The deployment's hash seed: --hash_seed_file, else $ISOPOOL_HASH_SEED. Never a new random one:
// an envelope packed with a seed no server has is of no use.
absl::StatusOr<uint64_t> HashSeed(const CommandLine& line) {
  if (line.Has("hash_seed_file")) {
    absl::StatusOr<std::string> text = ReadWholeFile(line.Get("hash_seed_file"));
    if (!text.ok()) return text.status();
    absl::StatusOr<uint64_t> seed = base::ParseHashSeed(*text);
    if (!seed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(line.Get("hash_seed_file"), ": ", seed.status().message()));
    }
    return seed;
  }
  if (const char* env = getenv("ISOPOOL_HASH_SEED"); env != nullptr && *env != '\0') {
    absl::StatusOr<uint64_t> seed = base::ParseHashSeed(env);
    if (!seed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ISOPOOL_HASH_SEED: ", seed.status().message()));
    }
    return seed;
  }
  return absl::InvalidArgumentError(
      "pack needs the target deployment's hash seed: pass --hash_seed_file (the server keeps it "
      "in <data_dir>/hash_seed) or set ISOPOOL_HASH_SEED");
}

// The server settings listed in kHelp, read as the server reads its flags (service/spec.h):
// --name, else $ISOPOOL_<NAME>, else the server's default.
absl::StatusOr<service::BuildSettings> TargetBuildSettings(const CommandLine& line) {
  return service::ReadBuildSettings(
      [&line](const std::string& name) -> absl::optional<std::string> {
        if (line.Has(name)) return line.Get(name);
        const std::string env = service::SettingEnvironmentVariable(name);
        if (const char* value = getenv(env.c_str()); value != nullptr) return std::string(value);
        return absl::nullopt;
      });
}

absl::Status WriteAtomically(const std::string& path, const std::string& data) {
  std::string temp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) {
      std::remove(temp.c_str());
      return absl::InvalidArgumentError(absl::StrCat("cannot write ", temp));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::InvalidArgumentError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  return absl::OkStatus();
}

int Run(const Invocation& inv) {
  const CommandLine& line = inv.line;
  if (line.positional().size() != 1) return UsageError(inv, "wants exactly one FILE (the bundle)");
  if (line.Get("out").empty()) return UsageError(inv, "--out ENVELOPE is required");
  absl::StatusOr<v1::SnapshotSpec> spec = SpecFromFlags(line);
  if (!spec.ok()) return UsageError(inv, std::string(spec.status().message()));
  absl::StatusOr<std::string> bundle = ReadWholeFile(line.positional()[0]);
  if (!bundle.ok()) return UsageError(inv, std::string(bundle.status().message()));

  absl::StatusOr<uint64_t> hash_seed = HashSeed(line);
  if (!hash_seed.ok()) return UsageError(inv, std::string(hash_seed.status().message()));

  absl::StatusOr<service::BuildSettings> settings = TargetBuildSettings(line);
  if (!settings.ok()) return UsageError(inv, std::string(settings.status().message()));
  engine::PackOptions options;
  if (absl::Status s = service::SpecToPackOptions(*spec, *settings, &options); !s.ok()) {
    return ReportLocalError(inv, "pack", s);
  }
  if (bundle->empty()) {
    return ReportLocalError(inv, "pack", absl::InvalidArgumentError("the bundle is empty"));
  }
  engine::PackProcessOptions process;
  process.binary = FindPackBinary(line);
  process.v8_flags = settings->v8_flags;
  process.hash_seed = *hash_seed;
  if (!Executable(process.binary)) {
    return ReportLocalError(inv, "pack",
                            absl::FailedPreconditionError(absl::StrCat(
                                "the pack binary ", process.binary,
                                " is missing; pass --pack_binary or set ISOPOOL_PACK_BINARY")));
  }
  absl::StatusOr<std::string> envelope = engine::PackInChildProcess(process, *bundle, options);
  if (!envelope.ok()) {
    return ReportLocalError(inv, "the bundle does not build", envelope.status());
  }
  if (absl::Status s = WriteAtomically(line.Get("out"), *envelope); !s.ok()) {
    return ReportLocalError(inv, "pack", s);
  }
  std::string id = absl::StrCat("sha256:", base::Sha256Hex(*envelope));
  if (inv.json) {
    std::cout << "{\"id\":" << JsonQuote(id) << ",\"out\":" << JsonQuote(line.Get("out"))
              << ",\"name\":" << JsonQuote(spec->name())
              << ",\"envelope_bytes\":" << envelope->size()
              << ",\"source_bytes\":" << bundle->size()
              << ",\"bundle_sha256\":" << JsonQuote(base::Sha256Hex(*bundle)) << "}" << std::endl;
  } else {
    std::cout << id << std::endl;
    std::cerr << "packed " << spec->name() << ": " << HumanBytes(envelope->size())
              << " envelope written to " << line.Get("out") << "\n";
  }
  return kExitOk;
}

std::vector<FlagSpec> Flags() {
  std::vector<FlagSpec> flags = SpecFlags();
  flags.push_back({"out", true});
  flags.push_back({"pack_binary", true});
  flags.push_back({"hash_seed_file", true});
  for (const char* setting : service::kBuildSettingNames) flags.push_back({setting, true});
  return flags;
}

}  // namespace

const Command& PackCommand() {
  static const std::string* help = new std::string(absl::StrCat(kHelp, kSpecFlagsHelp));
  static const Command* command = new Command{
      "pack", "build an envelope offline (byte-identical to the server's), print its id",
      help->c_str(), Flags(), &Run};
  return *command;
}

}  // namespace isopool::cli
