// isopoolctl get, list, rm: snapshot management.
#include <iomanip>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/cli.h"
#include "isopool/v1/isopool.grpc.pb.h"

namespace isopool::cli {
namespace {

constexpr int64_t kDeadlineMs = 30000;

const char kGetHelp[] = R"(Usage: isopoolctl get SNAPSHOT

Prints a snapshot's metadata: id, sizes, V8 version, build time and spec. SNAPSHOT is a name or
an id. An unknown snapshot is exit code 3. With --json: the Snapshot message in the proto3 JSON
mapping (64-bit numbers are strings).
)";

const char kListHelp[] = R"(Usage: isopoolctl list [--page_size N] [--page_token T] [--all]

Lists snapshots by name, in name order, one page at a time (the server's default page size is
100). Without --all, a further page is announced on stderr with the --page_token to ask for it.

  --page_size N           snapshots per page (0 = server default, at most 1000)
  --page_token T          continue from a previous page
  --all                   follow every page

With --json: {"snapshots": [Snapshot...], "next_page_token": "..."} (proto3 JSON mapping).
)";

const char kRmHelp[] = R"(Usage: isopoolctl rm SNAPSHOT

Deletes a name (or, given an id, every name pointing at it). The envelope is removed once no
name points at it; in-flight calls finish first. An unknown snapshot is exit code 3.
With --json: {"deleted": "SNAPSHOT", "removed_id": "..."}.
)";

std::string Time(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

void PrintSnapshot(const v1::Snapshot& s) {
  const v1::SnapshotSpec& spec = s.spec();
  std::cout << "name:          " << s.name() << "\n"
            << "id:            " << s.id() << "\n"
            << "kind:          " << v1::BundleKind_Name(spec.kind()) << "\n";
  if (!spec.entry().empty()) std::cout << "entry:         " << spec.entry() << "\n";
  std::cout << "isolation:     "
            << (spec.pool().isolation() == v1::ISOLATION_MODE_UNSPECIFIED
                    ? "server default"
                    : v1::IsolationMode_Name(spec.pool().isolation()))
            << "\n"
            << "source:        " << HumanBytes(s.source_bytes()) << " (" << s.source_bytes()
            << " bytes)\n"
            << "blob:          " << HumanBytes(s.blob_bytes()) << " (" << s.blob_bytes()
            << " bytes)\n"
            << "bundle sha256: " << s.bundle_sha256() << "\n"
            << "v8:            " << s.v8_version() << "\n"
            << "build:         " << s.build_ms() << " ms\n"
            << "created:       " << Time(s.created_ms()) << "\n";
}

int RunGet(const Invocation& inv) {
  if (inv.line.positional().size() != 1) return UsageError(inv, "wants one SNAPSHOT");
  std::unique_ptr<v1::Isopool::Stub> stub = v1::Isopool::NewStub(MakeChannel(inv));
  grpc::ClientContext context;
  SetDeadline(inv, kDeadlineMs, &context);
  v1::GetSnapshotRequest request;
  request.set_snapshot(inv.line.positional()[0]);
  SetSnapshotAffinity(request.snapshot(), &context);
  v1::Snapshot snapshot;
  grpc::Status status = stub->GetSnapshot(&context, request, &snapshot);
  if (!status.ok()) return ReportRpcError(inv, "get", status);
  if (inv.json) {
    std::cout << MessageToJson(snapshot) << std::endl;
  } else {
    PrintSnapshot(snapshot);
  }
  return kExitOk;
}

int RunList(const Invocation& inv) {
  const CommandLine& line = inv.line;
  if (!line.positional().empty()) return UsageError(inv, "takes no arguments");
  absl::StatusOr<uint32_t> page_size = line.GetU32("page_size", 0);
  if (!page_size.ok()) return UsageError(inv, std::string(page_size.status().message()));
  std::unique_ptr<v1::Isopool::Stub> stub = v1::Isopool::NewStub(MakeChannel(inv));
  v1::ListSnapshotsResponse all;
  v1::ListSnapshotsRequest request;
  request.set_page_size(*page_size);
  request.set_page_token(line.Get("page_token"));
  while (true) {
    grpc::ClientContext context;
    SetDeadline(inv, kDeadlineMs, &context);
    v1::ListSnapshotsResponse page;
    grpc::Status status = stub->ListSnapshots(&context, request, &page);
    if (!status.ok()) return ReportRpcError(inv, "list", status);
    for (v1::Snapshot& s : *page.mutable_snapshots()) *all.add_snapshots() = std::move(s);
    all.set_next_page_token(page.next_page_token());
    if (!line.Has("all") || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (inv.json) {
    std::cout << MessageToJson(all) << std::endl;
    return kExitOk;
  }
  std::cout << std::left << std::setw(24) << "NAME"
            << " " << std::setw(20) << "ID"
            << " " << std::setw(14) << "KIND"
            << " " << std::setw(10) << "SOURCE"
            << " " << std::setw(10) << "BLOB"
            << " CREATED\n";
  for (const v1::Snapshot& s : all.snapshots()) {
    std::cout << std::setw(24) << s.name() << " " << std::setw(20) << s.id().substr(0, 19) << " "
              << std::setw(14) << v1::BundleKind_Name(s.spec().kind()) << " " << std::setw(10)
              << HumanBytes(s.source_bytes()) << " " << std::setw(10) << HumanBytes(s.blob_bytes())
              << " " << Time(s.created_ms()) << "\n";
  }
  if (!all.next_page_token().empty()) {
    std::cerr << "more: isopoolctl list --page_token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunRm(const Invocation& inv) {
  if (inv.line.positional().size() != 1) return UsageError(inv, "wants one SNAPSHOT");
  std::unique_ptr<v1::Isopool::Stub> stub = v1::Isopool::NewStub(MakeChannel(inv));
  grpc::ClientContext context;
  SetDeadline(inv, kDeadlineMs, &context);
  v1::DeleteSnapshotRequest request;
  request.set_snapshot(inv.line.positional()[0]);
  SetSnapshotAffinity(request.snapshot(), &context);
  v1::DeleteSnapshotResponse response;
  grpc::Status status = stub->DeleteSnapshot(&context, request, &response);
  if (!status.ok()) return ReportRpcError(inv, "rm", status);
  if (inv.json) {
    std::cout << "{\"deleted\":" << JsonQuote(request.snapshot())
              << ",\"removed_id\":" << JsonQuote(response.removed_id()) << "}" << std::endl;
  } else {
    std::cout << "deleted " << request.snapshot() << "\n";
    if (response.removed_id().empty()) {
      std::cout << "the envelope stays: another name points at it\n";
    } else {
      std::cout << "removed envelope " << response.removed_id() << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

const Command& GetCommand() {
  static const Command* command =
      new Command{"get", "show a snapshot's metadata", kGetHelp, {}, &RunGet};
  return *command;
}

const Command& ListCommand() {
  static const Command* command =
      new Command{"list",
                  "list snapshots by name",
                  kListHelp,
                  {{"page_size", true}, {"page_token", true}, {"all", false}},
                  &RunList};
  return *command;
}

const Command& RmCommand() {
  static const Command* command = new Command{
      "rm", "delete a snapshot name (and its envelope when unused)", kRmHelp, {}, &RunRm};
  return *command;
}

}  // namespace isopool::cli
