// text_format.h: small text helpers shared by the server, isopoolctl and the load generator,
// so they quote JSON and name gRPC codes the same way.
//
// Thread-safety: plain functions.
#ifndef ISOPOOL_SERVICE_TEXT_FORMAT_H_
#define ISOPOOL_SERVICE_TEXT_FORMAT_H_

#include <grpcpp/support/status_code_enum.h>

#include <string>

#include "absl/strings/string_view.h"

namespace isopool::service {

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

// "OK", "INVALID_ARGUMENT", ... as Prometheus's grpc_code label and gRPC's docs spell them;
// "CODE_<n>" for a number gRPC does not define.
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_TEXT_FORMAT_H_
