// store_config.h: which SnapshotStore the server runs, and the shared store's settings.
//
//   --snapshot_store=fs      (default) one directory on local disk: one replica
//   --snapshot_store=shared  PostgreSQL for names and metadata + an S3-compatible bucket for
//                            envelopes, with a verified local cache: N replicas
//
// Like every server flag, each can be set as ISOPOOL_<FLAG> in the environment. Secrets are
// best given as files (Kubernetes Secret volumes) or environment variables, never on the
// command line (visible in ps):
//   PostgreSQL password   --pg_password_file, or libpq's own PGPASSWORD / PGPASSFILE
//   S3 keys               --s3_access_key_file/--s3_secret_key_file, or ISOPOOL_S3_ACCESS_KEY /
//                         ISOPOOL_S3_SECRET_KEY, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// None of them is ever logged; logs name a database by host:port/dbname and a bucket by
// endpoint/bucket.
//
// Thread-safety: LoadStoreConfig reads global flag state; LoadServerConfig calls it once.
#ifndef ISOPOOL_SERVICE_STORE_CONFIG_H_
#define ISOPOOL_SERVICE_STORE_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace isopool::service {

struct StoreConfig {
  std::string kind = "fs";  // "fs" or "shared"
  // Shared store only.
  std::string pg_conninfo;  // may carry the password: never log it
  int pg_pool_size = 4;
  std::string s3_endpoint;
  std::string s3_bucket;
  std::string s3_region = "us-east-1";
  std::string s3_prefix;
  std::string s3_access_key;  // secret
  std::string s3_secret_key;  // secret
  std::string s3_ca_file;
  bool s3_create_bucket = false;
  std::string cache_dir;  // default <data_dir>/cache
  uint64_t cache_max_bytes = uint64_t{1} << 30;
  absl::Duration operation_timeout = absl::Seconds(10);
  absl::Duration transfer_timeout = absl::Seconds(60);
  absl::Duration sweep_grace = absl::Minutes(10);
  absl::Duration sweep_interval = absl::Minutes(1);
};

// Reads the store flags (environment already applied). InvalidArgument naming the flag when a
// setting is missing or malformed; NotFound/PermissionDenied for unreadable secret files.
absl::Status LoadStoreConfig(const std::string& data_dir, StoreConfig* config);

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_STORE_CONFIG_H_
