// PgConnection and PgPool: the little of libpq the shared snapshot store needs, with deadlines.
//
//   PgPool pool({.conninfo = "host=db dbname=isopool user=isopool", .size = 4});
//   absl::Status s = pool.Transaction(deadline, [&](PgConnection& c) -> absl::Status {
//     auto r = c.Exec("SELECT id FROM names WHERE name = $1 FOR UPDATE", {name}, deadline);
//     if (!r.ok()) return r.status();
//     ...
//     return absl::OkStatus();  // commits; an error rolls back
//   });
//
// Every call takes a deadline and never blocks past it: connecting, sending and waiting for
// results use libpq's asynchronous API and poll(); a query still running at the deadline is
// abandoned and its connection discarded. This matters when the database is not
// down but hung (SIGSTOPped, a network partition): a blocking libpq call would wait for TCP.
//
// Errors name the database (host, port, dbname; never the password):
//   Unavailable       cannot connect, connection lost, server shutting down (SQLSTATE 08*, 57P*)
//   DeadlineExceeded  the deadline passed
//   Aborted           serialization failure or deadlock (40001, 40P01): Transaction retries it
//   AlreadyExists     unique violation (23505)
//   FailedPrecondition  foreign key violation (23503)
//   Internal          anything else, with the SQLSTATE and the server's message
//
// Parameters and results are text. Binary data goes through EncodeBytea/DecodeBytea.
//
// Threads: a PgConnection is used by one thread at a time. PgPool may be used from any thread;
// it lends each caller its own connection.
#ifndef ISOPOOL_STORE_PG_H_
#define ISOPOOL_STORE_PG_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "base/mutex.h"

struct pg_conn;
struct pg_result;

namespace isopool::store {

// A query's rows, as text. Null fields read as "" (IsNull tells them apart).
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* result);
  ~PgResult();
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;

  int rows() const;
  std::string Get(int row, int column) const;
  bool IsNull(int row, int column) const;
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t affected() const;

 private:
  pg_result* result_ = nullptr;
};

// "host:port/dbname" of a conninfo string or URI, for messages (never the password).
std::string DescribeConninfo(const std::string& conninfo);

std::string EncodeBytea(absl::string_view bytes);  // "\x<hex>"
absl::StatusOr<std::string> DecodeBytea(absl::string_view text);

class PgConnection {
 public:
  // Connects within the deadline.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo,
                                                               absl::Time deadline);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // One statement with $1.. parameters (absl::nullopt = SQL NULL).
  absl::StatusOr<PgResult> Exec(absl::string_view sql,
                                const std::vector<absl::optional<std::string>>& params,
                                absl::Time deadline);
  absl::StatusOr<PgResult> Exec(absl::string_view sql, absl::Time deadline) {
    return Exec(sql, {}, deadline);
  }

  // LISTEN support: waits until a notification arrives or the deadline passes, then returns
  // every notification received so far as (channel, payload). Unavailable if the connection
  // broke.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> WaitForNotifications(
      absl::Time deadline);

  // False once an error showed the connection is unusable (lost, or abandoned mid-query).
  bool healthy() const { return healthy_; }
  const std::string& describe() const { return describe_; }

 private:
  PgConnection(pg_conn* conn, std::string describe);
  absl::Status Wait(bool for_write, absl::Time deadline);

  pg_conn* conn_;
  const std::string describe_;
  bool healthy_ = true;
};

struct PgPoolOptions {
  std::string conninfo;
  int size = 4;  // most connections open at once
};

class PgPool {
 public:
  explicit PgPool(PgPoolOptions options);
  ~PgPool();

  // Runs `body` between BEGIN and COMMIT on one connection (ROLLBACK if it fails). Retries the
  // whole transaction on Aborted (serialization failure, deadlock) and on a connection lost
  // before COMMIT was sent, with backoff, until the deadline. `body` must be safe to re-run.
  absl::Status Transaction(absl::Time deadline,
                           const std::function<absl::Status(PgConnection&)>& body);
  // One statement, autocommitted (retried like Transaction: make it idempotent).
  absl::StatusOr<PgResult> Query(absl::string_view sql,
                                 const std::vector<absl::optional<std::string>>& params,
                                 absl::Time deadline);

  const std::string& describe() const { return describe_; }

 private:
  absl::Status Run(absl::Time deadline, bool transaction,
                   const std::function<absl::Status(PgConnection&)>& body);
  absl::StatusOr<std::unique_ptr<PgConnection>> Borrow(absl::Time deadline);
  void Return(std::unique_ptr<PgConnection> connection);

  const PgPoolOptions options_;
  const std::string describe_;
  base::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // lent + idle
  base::CondVar room_;                 // signalled when a connection is returned or freed
};

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_PG_H_
