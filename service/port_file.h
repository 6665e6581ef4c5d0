// port_file.h: the file the server writes, with --port_file=PATH, once both listeners are bound
// and it is ready to serve: one JSON object on one line,
//
//   {"grpc_port":41234,"metrics_port":41235,"pid":4321}
//
// (metrics_port is 0 when --metrics_listen is empty). It is written atomically, a temp file in
// the same directory fsynced then renamed over PATH, so a reader that finds the file finds all
// of it. Launchers (tests/harness) start the server on port 0 and wait for this file instead of
// parsing its log. The server does not remove it at exit: a reader tells a stale file by its pid.
//
// Thread-safety: a plain function; call it once, when the server is ready.
#ifndef ISOPOOL_SERVICE_PORT_FILE_H_
#define ISOPOOL_SERVICE_PORT_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace isopool::service {

// The file's contents for these ports and this process (a line, newline included).
std::string PortFileContents(int grpc_port, int metrics_port);

// Writes PortFileContents to `path` atomically (replacing any file there). The error names the
// path (a missing directory, no permission, a full disk).
absl::Status WritePortFile(const std::string& path, int grpc_port, int metrics_port);

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_PORT_FILE_H_
