// isopoolctl upload: streams a bundle (or a prebuilt envelope) to UploadSnapshot.
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli.h"
#include "cli/spec_flags.h"
#include "isopool/v1/isopool.grpc.pb.h"

namespace isopool::cli {
namespace {

constexpr size_t kChunkBytes = 256 << 10;
// Bundles above this get a progress line (when stderr is a terminal, or with --progress).
constexpr size_t kProgressAbove = 1 << 20;

const char kHelp[] =
    R"(Usage: isopoolctl upload FILE --name NAME [spec flags] [--prebuilt] [--progress]

Uploads a bundle (a classic script, or an ES module with --esm) and prints the snapshot id.
The bundle is streamed in 256 KiB chunks; bundles over 1 MiB show a progress line on stderr
when stderr is a terminal, or always with --progress. Uploading the same bundle with the same
flags again gives the same id and stores nothing new ("created: no").

  --prebuilt              FILE is an envelope from 'isopoolctl pack' (the server must run with
                          --allow_prebuilt_envelopes; otherwise FAILED_PRECONDITION, exit 7)
  --progress              show the progress line even when stderr is not a terminal

)";

class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled), tty_(isatty(2)) {}
  void Update(size_t sent) {
    if (!enabled_) return;
    int percent = total_ == 0 ? 100 : static_cast<int>(sent * 100 / total_);
    // On a terminal, redraw one line; elsewhere print a line every 10%.
    if (!tty_ && percent / 10 == last_percent_ / 10 && sent != total_) return;
    if (percent == last_percent_) return;
    last_percent_ = percent;
    std::cerr << (tty_ ? "\r" : "") << "uploading: " << HumanBytes(sent) << " / "
              << HumanBytes(total_) << " (" << percent << "%)" << (tty_ ? "" : "\n");
  }
  void Done() {
    if (enabled_ && tty_) std::cerr << "\n";
    if (enabled_) std::cerr << "uploaded " << HumanBytes(total_) << ", waiting for the build\n";
  }

 private:
  size_t total_;
  bool enabled_;
  bool tty_;
  int last_percent_ = -1;
};

void PrintSnapshot(const v1::Snapshot& s) {
  std::cout << "  id:            " << s.id() << "\n"
            << "  source:        " << HumanBytes(s.source_bytes()) << "\n"
            << "  blob:          " << HumanBytes(s.blob_bytes()) << "\n"
            << "  bundle sha256: " << s.bundle_sha256() << "\n"
            << "  v8:            " << s.v8_version() << "\n"
            << "  build:         " << s.build_ms() << " ms\n";
}

int Run(const Invocation& inv) {
  const CommandLine& line = inv.line;
  if (line.positional().size() != 1) {
    return UsageError(inv, "wants exactly one FILE (the bundle)");
  }
  absl::StatusOr<v1::SnapshotSpec> spec = SpecFromFlags(line);
  if (!spec.ok()) return UsageError(inv, std::string(spec.status().message()));
  spec->set_prebuilt_envelope(line.Has("prebuilt"));
  absl::StatusOr<std::string> bundle = ReadWholeFile(line.positional()[0]);
  if (!bundle.ok()) return UsageError(inv, std::string(bundle.status().message()));

  std::unique_ptr<v1::Isopool::Stub> stub = v1::Isopool::NewStub(MakeChannel(inv));
  grpc::ClientContext context;
  SetDeadline(inv, 10 * 60 * 1000, &context);
  // The upload lands where the name's calls will: its prewarmed pool is where it is used.
  SetSnapshotAffinity(spec->name(), &context);
  v1::UploadSnapshotResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadSnapshotRequest>> writer =
      stub->UploadSnapshot(&context, &response);

  Progress progress(bundle->size(),
                    bundle->size() > kProgressAbove && (isatty(2) || line.Has("progress")));
  v1::UploadSnapshotRequest request;
  *request.mutable_spec() = *spec;
  bool open = writer->Write(request);
  for (size_t offset = 0; open && offset < bundle->size(); offset += kChunkBytes) {
    size_t n = std::min(kChunkBytes, bundle->size() - offset);
    request.set_chunk(bundle->data() + offset, n);
    open = writer->Write(request);
    progress.Update(offset + n);
  }
  // A closed stream means the server already answered (e.g. the spec was refused): Finish says.
  if (open) {
    writer->WritesDone();
    progress.Done();
  }
  grpc::Status status = writer->Finish();
  if (!status.ok()) return ReportRpcError(inv, "upload", status);

  if (inv.json) {
    std::cout << MessageToJson(response) << std::endl;
  } else {
    std::cout << "uploaded " << response.snapshot().name() << "\n";
    PrintSnapshot(response.snapshot());
    std::cout << "  created:       "
              << (response.created() ? "yes" : "no (an identical snapshot was already stored)")
              << "\n";
  }
  return kExitOk;
}

std::vector<FlagSpec> Flags() {
  std::vector<FlagSpec> flags = SpecFlags();
  flags.push_back({"prebuilt", false});
  flags.push_back({"progress", false});
  return flags;
}

}  // namespace

const Command& UploadCommand() {
  static const std::string* help = new std::string(absl::StrCat(kHelp, kSpecFlagsHelp));
  static const Command* command = new Command{"upload", "upload a bundle and print its snapshot id",
                                              help->c_str(), Flags(), &Run};
  return *command;
}

}  // namespace isopool::cli
