// S3Client: the few S3 operations the shared snapshot store needs, over libcurl with AWS
// Signature V4 (CURLOPT_AWS_SIGV4). Works with AWS S3, MinIO, Ceph radosgw, R2 and GCS interop.
//
//   S3ClientOptions options;
//   options.endpoint = "http://127.0.0.1:7480";  // path-style: <endpoint>/<bucket>/<key>
//   options.bucket = "isopool";
//   options.access_key = ...; options.secret_key = ...;
//   auto s3 = S3Client::Create(options);
//   absl::StatusOr<bool> created = (*s3)->PutIfAbsent("snapshots/9f86...", bytes, deadline);
//   absl::StatusOr<std::string> bytes = (*s3)->Get("snapshots/9f86...", deadline);
//
// Every request is signed, including the payload: x-amz-content-sha256 is the sha256 of the
// body, so the object store rejects a body damaged on the way. Quirks of libcurl 7.88 measured
// against radosgw and handled here: the query string must already be in canonical form (sorted,
// encoded), and an empty header ("Content-Type:", "Expect:"), which curl uses to suppress a
// header, is still signed and breaks the signature, so none is ever set.
//
// Errors name the object store (its endpoint and bucket), never the credentials:
//   Unavailable     connection refused or reset, timeouts, 5xx, 429 (after retries)
//   DeadlineExceeded  the deadline passed before an answer
//   NotFound        404 (Get, Delete is OK on 404)
//   PermissionDenied  401/403 (wrong keys, clock skew, bad signature: never retried)
//   Internal        any other status
//
// Retries: idempotent requests are retried on Unavailable with exponential backoff and jitter
// (50 ms doubling, capped at 1 s) until max_attempts or the deadline; a request never runs past
// its deadline (libcurl's timeout is set to what is left of it).
//
// Threads: every method may be called from any thread at once. Easy handles (and so their
// keep-alive connections) are pooled and reused.
#ifndef ISOPOOL_STORE_S3_CLIENT_H_
#define ISOPOOL_STORE_S3_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace isopool::store {

struct S3ClientOptions {
  std::string endpoint;  // "http(s)://host[:port]", no trailing slash needed
  std::string bucket;
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;
  absl::Duration connect_timeout = absl::Seconds(2);
  int max_attempts = 4;
  // Optional CA bundle for https endpoints (empty: the system's).
  std::string ca_file;
};

class S3Client {
 public:
  static absl::StatusOr<std::unique_ptr<S3Client>> Create(S3ClientOptions options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // PUT with If-None-Match: * (never overwrites). True if this call created the object, false
  // if it already existed (412). With `overwrite`, a plain PUT that replaces any object.
  absl::StatusOr<bool> PutIfAbsent(absl::string_view key, absl::string_view bytes,
                                   absl::Time deadline, bool overwrite = false);
  // The object's bytes; NotFound if there is none. `max_bytes` caps what is accepted
  // (a larger object is an error, not an allocation).
  absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline,
                                  uint64_t max_bytes = uint64_t{1} << 32);
  // Whether the object exists (HEAD).
  absl::StatusOr<bool> Exists(absl::string_view key, absl::Time deadline);
  // Removes the object; OK if it did not exist.
  absl::Status Delete(absl::string_view key, absl::Time deadline);
  // Keys under `prefix` (ListObjectsV2, every page), with their last-modified times.
  struct ListedObject {
    std::string key;
    absl::Time last_modified;
    uint64_t size = 0;
  };
  absl::StatusOr<std::vector<ListedObject>> List(absl::string_view prefix, absl::Time deadline);
  // Creates the bucket; OK if it already exists and is ours.
  absl::Status CreateBucket(absl::Time deadline);

  // "<endpoint>/<bucket>", for messages and logs.
  const std::string& describe() const { return describe_; }

 private:
  explicit S3Client(S3ClientOptions options);
  struct Request;
  struct Response;
  // One HTTP exchange, no retries.
  absl::StatusOr<Response> Perform(const Request& request, absl::Time deadline);
  // Perform with retries on Unavailable while attempts and time remain.
  absl::StatusOr<Response> PerformWithRetries(const Request& request, absl::Time deadline);
  void* Borrow();
  void Return(void* handle);

  const S3ClientOptions options_;
  const std::string describe_;
  const std::string sigv4_;
  const std::string userpwd_;
  base::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);  // CURL* easy handles
};

// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, the rest %XX; '/' kept when
// `keep_slash` (object keys in paths).
std::string UriEncode(absl::string_view s, bool keep_slash);

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_S3_CLIENT_H_
