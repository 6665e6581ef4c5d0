#include "service/port_file.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "store/atomic_file.h"

namespace isopool::service {

std::string PortFileContents(int grpc_port, int metrics_port) {
  return absl::StrCat("{\"grpc_port\":", grpc_port, ",\"metrics_port\":", metrics_port,
                      ",\"pid\":", getpid(), "}\n");
}

absl::Status WritePortFile(const std::string& path, int grpc_port, int metrics_port) {
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--port_file=", path, " names a directory"));
  }
  absl::Status status =
      store::WriteFileAtomically(dir, name, PortFileContents(grpc_port, metrics_port));
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("cannot write the port file: ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace isopool::service
