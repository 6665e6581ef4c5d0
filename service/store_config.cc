#include "service/store_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

ABSL_FLAG(std::string, snapshot_store, "fs",
          "fs: snapshots in --data_dir (one replica); shared: PostgreSQL + S3 (N replicas)");
ABSL_FLAG(std::string, pg_conninfo, "",
          "shared store: libpq conninfo or URI of the PostgreSQL database, without the password "
          "(see --pg_password_file)");
ABSL_FLAG(std::string, pg_password_file, "",
          "shared store: file holding the PostgreSQL password (else PGPASSWORD/PGPASSFILE)");
ABSL_FLAG(int, pg_pool_size, 4, "shared store: most PostgreSQL connections per replica");
ABSL_FLAG(std::string, s3_endpoint, "",
          "shared store: S3 endpoint, http(s)://host[:port]; path-style requests");
ABSL_FLAG(std::string, s3_bucket, "", "shared store: bucket holding the envelopes");
ABSL_FLAG(std::string, s3_region, "us-east-1", "shared store: region for SigV4 signing");
ABSL_FLAG(std::string, s3_prefix, "", "shared store: prefix of every object key, e.g. prod/");
ABSL_FLAG(std::string, s3_access_key, "",
          "shared store: S3 access key; prefer ISOPOOL_S3_ACCESS_KEY or --s3_access_key_file");
ABSL_FLAG(std::string, s3_secret_key, "",
          "shared store: S3 secret key; prefer ISOPOOL_S3_SECRET_KEY or --s3_secret_key_file");
ABSL_FLAG(std::string, s3_access_key_file, "", "shared store: file holding the S3 access key");
ABSL_FLAG(std::string, s3_secret_key_file, "", "shared store: file holding the S3 secret key");
ABSL_FLAG(std::string, s3_ca_file, "", "shared store: CA bundle for an https endpoint");
ABSL_FLAG(bool, s3_create_bucket, false,
          "shared store: create the bucket at start if it is missing (development)");
ABSL_FLAG(std::string, cache_dir, "",
          "shared store: this replica's verified envelope cache; default <data_dir>/cache");
ABSL_FLAG(int, cache_max_mib, 1024,
          "shared store: cache byte budget, MiB (LRU; live pools pinned)");
ABSL_FLAG(int, store_timeout_ms, 10000,
          "shared store: deadline of a metadata operation (names, rows)");
ABSL_FLAG(int, store_transfer_timeout_ms, 60000,
          "shared store: deadline of an envelope upload or download");
ABSL_FLAG(int, sweep_grace_seconds, 600,
          "shared store: age before an unreferenced object is deleted from the bucket");
ABSL_FLAG(int, sweep_interval_seconds, 60, "shared store: how often each replica sweeps");

ABSL_DECLARE_FLAG(std::string, hash_seed_file);

namespace isopool::service {
namespace {

absl::Status ReadSecret(const std::string& path, const char* flag, std::string* out) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("--", flag, ": cannot read ", path));
  }
  std::stringstream s;
  s << in.rdbuf();
  *out = std::string(absl::StripAsciiWhitespace(s.str()));
  if (out->empty())
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", path, " is empty"));
  return absl::OkStatus();
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

absl::Status LoadStoreConfig(const std::string& data_dir, StoreConfig* c) {
  c->kind = absl::GetFlag(FLAGS_snapshot_store);
  if (c->kind != "fs" && c->kind != "shared") {
    return absl::InvalidArgumentError("--snapshot_store must be fs or shared");
  }
  if (c->kind == "fs") return absl::OkStatus();

  // Replicas restore each other's snapshots, so they must share the V8 hash seed (README,
  // "Determinism and hash seeds"): a seed file created per pod would make every snapshot
  // unusable on every other replica.
  if (Env("ISOPOOL_HASH_SEED").empty() && absl::GetFlag(FLAGS_hash_seed_file).empty()) {
    return absl::InvalidArgumentError(
        "--snapshot_store=shared needs one hash seed for all replicas: set ISOPOOL_HASH_SEED "
        "(e.g. from a Kubernetes Secret) or --hash_seed_file to a file every replica reads");
  }
  c->pg_conninfo = absl::GetFlag(FLAGS_pg_conninfo);
  if (c->pg_conninfo.empty()) {
    return absl::InvalidArgumentError("--snapshot_store=shared needs --pg_conninfo");
  }
  if (std::string file = absl::GetFlag(FLAGS_pg_password_file); !file.empty()) {
    std::string password;
    if (absl::Status s = ReadSecret(file, "pg_password_file", &password); !s.ok()) return s;
    // A conninfo keyword value in single quotes, with \ and ' escaped. A URI takes it the
    // same way after a space only when it is a key=value string, so URIs get PGPASSWORD.
    if (c->pg_conninfo.find("://") != std::string::npos) {
      setenv("PGPASSWORD", password.c_str(), 1);
    } else {
      absl::StrAppend(&c->pg_conninfo, " password='",
                      absl::StrReplaceAll(password, {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
    }
  }
  c->pg_pool_size = absl::GetFlag(FLAGS_pg_pool_size);
  c->s3_endpoint = absl::GetFlag(FLAGS_s3_endpoint);
  c->s3_bucket = absl::GetFlag(FLAGS_s3_bucket);
  if (c->s3_endpoint.empty() || c->s3_bucket.empty()) {
    return absl::InvalidArgumentError(
        "--snapshot_store=shared needs --s3_endpoint and --s3_bucket");
  }
  c->s3_region = absl::GetFlag(FLAGS_s3_region);
  c->s3_prefix = absl::GetFlag(FLAGS_s3_prefix);
  c->s3_ca_file = absl::GetFlag(FLAGS_s3_ca_file);
  c->s3_create_bucket = absl::GetFlag(FLAGS_s3_create_bucket);
  c->s3_access_key = absl::GetFlag(FLAGS_s3_access_key);
  c->s3_secret_key = absl::GetFlag(FLAGS_s3_secret_key);
  if (std::string file = absl::GetFlag(FLAGS_s3_access_key_file); !file.empty()) {
    if (absl::Status s = ReadSecret(file, "s3_access_key_file", &c->s3_access_key); !s.ok()) {
      return s;
    }
  }
  if (std::string file = absl::GetFlag(FLAGS_s3_secret_key_file); !file.empty()) {
    if (absl::Status s = ReadSecret(file, "s3_secret_key_file", &c->s3_secret_key); !s.ok()) {
      return s;
    }
  }
  if (c->s3_access_key.empty()) c->s3_access_key = Env("AWS_ACCESS_KEY_ID");
  if (c->s3_secret_key.empty()) c->s3_secret_key = Env("AWS_SECRET_ACCESS_KEY");
  if (c->s3_access_key.empty() || c->s3_secret_key.empty()) {
    return absl::InvalidArgumentError(
        "--snapshot_store=shared needs S3 keys: ISOPOOL_S3_ACCESS_KEY/ISOPOOL_S3_SECRET_KEY, "
        "--s3_access_key_file/--s3_secret_key_file, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
  }
  c->cache_dir = absl::GetFlag(FLAGS_cache_dir);
  if (c->cache_dir.empty()) c->cache_dir = data_dir + "/cache";
  if (absl::GetFlag(FLAGS_cache_max_mib) <= 0) {
    return absl::InvalidArgumentError("--cache_max_mib must be positive");
  }
  c->cache_max_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_cache_max_mib)) << 20;
  int timeout = absl::GetFlag(FLAGS_store_timeout_ms);
  int transfer = absl::GetFlag(FLAGS_store_transfer_timeout_ms);
  int grace = absl::GetFlag(FLAGS_sweep_grace_seconds);
  int interval = absl::GetFlag(FLAGS_sweep_interval_seconds);
  if (timeout <= 0 || transfer <= 0 || grace < 0 || interval <= 0 || c->pg_pool_size < 1) {
    return absl::InvalidArgumentError(
        "--store_timeout_ms, --store_transfer_timeout_ms, --sweep_interval_seconds and "
        "--pg_pool_size must be positive, --sweep_grace_seconds not negative");
  }
  c->operation_timeout = absl::Milliseconds(timeout);
  c->transfer_timeout = absl::Milliseconds(transfer);
  c->sweep_grace = absl::Seconds(grace);
  c->sweep_interval = absl::Seconds(interval);
  return absl::OkStatus();
}

}  // namespace isopool::service
