// text_format.h: small text helpers shared by the server, isopoolctl and the load generator,
// so they quote JSON and name status codes the same way. No gRPC here: every layer may use it.
//
// Thread-safety: plain functions.
#ifndef ISOPOOL_BASE_TEXT_FORMAT_H_
#define ISOPOOL_BASE_TEXT_FORMAT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace isopool::base {

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

// The name of a status code number: "OK", "INVALID_ARGUMENT", ... as Prometheus's grpc_code
// label and gRPC's docs spell them; "CODE_<n>" for a number gRPC does not define. gRPC's and
// absl's codes share these numbers (grpc::StatusCode converts implicitly).
std::string StatusCodeName(int code);

}  // namespace isopool::base

#endif  // ISOPOOL_BASE_TEXT_FORMAT_H_
