#include "store/pg.h"

#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace isopool::store {
namespace {

absl::Status StatusFromResult(const PGresult* result, const std::string& describe) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string sqlstate = state != nullptr ? state : "";
  const char* message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  std::string what =
      absl::StrCat("PostgreSQL ", describe, ": ", message ? message : "error",
                   sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")"));
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::AbortedError(what);
  if (sqlstate == "23505") return absl::AlreadyExistsError(what);
  if (sqlstate == "23503") return absl::FailedPreconditionError(what);
  if (sqlstate == "57014") return absl::DeadlineExceededError(what);
  if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P") ||
      absl::StartsWith(sqlstate, "53") || sqlstate.empty()) {
    return absl::UnavailableError(what);
  }
  return absl::InternalError(what);
}

}  // namespace

PgResult::PgResult(pg_result* result) : result_(result) {}
PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}
PgResult::PgResult(PgResult&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}
int PgResult::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }
std::string PgResult::Get(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
}
bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }
int64_t PgResult::affected() const {
  const char* n = result_ == nullptr ? "" : PQcmdTuples(result_);
  return n[0] == '\0' ? 0 : std::strtoll(n, nullptr, 10);
}

std::string DescribeConninfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return "(unparseable conninfo)";
  }
  std::string host = "localhost", port = "5432", dbname;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string key = o->keyword;
    if (key == "host" || key == "hostaddr") host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
  }
  PQconninfoFree(options);
  return absl::StrCat(host, ":", port, "/", dbname);
}

std::string EncodeBytea(absl::string_view bytes) {
  return absl::StrCat("\\x", absl::BytesToHexString(bytes));
}

absl::StatusOr<std::string> DecodeBytea(absl::string_view text) {
  if (!absl::StartsWith(text, "\\x")) return absl::InternalError("bytea not in hex format");
  text.remove_prefix(2);
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InternalError("bytea not in hex format");
    }
  }
  if (text.size() % 2 != 0) return absl::InternalError("bytea of odd length");
  return absl::HexStringToBytes(text);
}

PgConnection::PgConnection(pg_conn* conn, std::string describe)
    : conn_(conn), describe_(std::move(describe)) {}

PgConnection::~PgConnection() { PQfinish(conn_); }

absl::Status PgConnection::Wait(bool for_write, absl::Time deadline) {
  int fd = PQsocket(conn_);
  if (fd < 0) {
    healthy_ = false;
    return absl::UnavailableError(absl::StrCat("PostgreSQL ", describe_, ": no connection"));
  }
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("PostgreSQL ", describe_, ": no answer before the deadline"));
    }
    pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
    int n = poll(&p, 1, ms);
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) {
      healthy_ = false;
      return absl::UnavailableError(absl::StrCat("PostgreSQL ", describe_, ": poll failed"));
    }
  }
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo,
                                                                    absl::Time deadline) {
  std::string describe = DescribeConninfo(conninfo);
  PGconn* conn = PQconnectStart(conninfo.c_str());
  if (conn == nullptr) return absl::ResourceExhaustedError("PQconnectStart: out of memory");
  std::unique_ptr<PgConnection> connection(new PgConnection(conn, describe));
  if (PQstatus(conn) == CONNECTION_BAD) {
    return absl::UnavailableError(
        absl::StrCat("PostgreSQL ", describe, ": cannot connect: ", PQerrorMessage(conn)));
  }
  for (PostgresPollingStatusType state = PGRES_POLLING_WRITING;;) {
    if (state == PGRES_POLLING_OK) break;
    if (state == PGRES_POLLING_FAILED) {
      std::string error = PQerrorMessage(conn);
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      return absl::UnavailableError(
          absl::StrCat("PostgreSQL ", describe, ": cannot connect: ", error));
    }
    absl::Status waited = connection->Wait(state == PGRES_POLLING_WRITING, deadline);
    if (!waited.ok()) {
      return absl::UnavailableError(
          absl::StrCat("PostgreSQL ", describe, ": cannot connect: ", waited.message()));
    }
    state = PQconnectPoll(conn);
  }
  // Server NOTICEs ("relation already exists, skipping") are not errors: keep them off stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  if (PQsetnonblocking(conn, 1) != 0) {
    return absl::InternalError(absl::StrCat("PostgreSQL ", describe, ": PQsetnonblocking"));
  }
  return connection;
}

absl::StatusOr<PgResult> PgConnection::Exec(absl::string_view sql,
                                            const std::vector<absl::optional<std::string>>& params,
                                            absl::Time deadline) {
  if (!healthy_) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL ", describe_, ": connection lost"));
  }
  std::vector<const char*> values;
  std::vector<int> lengths;
  for (const auto& p : params) {
    values.push_back(p ? p->c_str() : nullptr);
    lengths.push_back(p ? static_cast<int>(p->size()) : 0);
  }
  std::string query(sql);
  auto lost = [&](absl::string_view what) {
    healthy_ = false;
    std::string error = PQerrorMessage(conn_);
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    return absl::UnavailableError(absl::StrCat("PostgreSQL ", describe_, ": ", what, ": ", error));
  };
  if (!PQsendQueryParams(conn_, query.c_str(), static_cast<int>(values.size()), nullptr,
                         values.data(), lengths.data(), nullptr, 0)) {
    return lost("cannot send query");
  }
  // Flush the query out (non-blocking mode).
  for (;;) {
    int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) return lost("cannot send query");
    absl::Status waited = Wait(true, deadline);
    if (!waited.ok()) {
      healthy_ = false;
      return waited;
    }
  }
  absl::StatusOr<PgResult> outcome = absl::InternalError("no result");
  bool have_outcome = false;
  for (;;) {
    while (PQisBusy(conn_)) {
      absl::Status waited = Wait(false, deadline);
      if (!waited.ok()) {
        // Abandon the query and never reuse this connection. No PQcancel: it blocks on a
        // server that does not answer, which is exactly the case here. The backend notices
        // the closed socket when it next writes.
        healthy_ = false;
        return waited;
      }
      if (!PQconsumeInput(conn_)) return lost("connection lost");
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    ExecStatusType status = PQresultStatus(result);
    if (!have_outcome) {
      if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        outcome = PgResult(result);
      } else {
        outcome = StatusFromResult(result, describe_);
        PQclear(result);
      }
      have_outcome = true;
    } else {
      PQclear(result);
    }
  }
  if (PQstatus(conn_) == CONNECTION_BAD) {
    healthy_ = false;
    if (!have_outcome || outcome.ok()) return lost("connection lost");
  }
  if (!outcome.ok() && absl::IsUnavailable(outcome.status())) healthy_ = false;
  return outcome;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> PgConnection::WaitForNotifications(
    absl::Time deadline) {
  std::vector<std::pair<std::string, std::string>> out;
  auto drain = [&] {
    while (PGnotify* notify = PQnotifies(conn_)) {
      out.emplace_back(notify->relname, notify->extra);
      PQfreemem(notify);
    }
  };
  if (!PQconsumeInput(conn_)) {
    healthy_ = false;
    return absl::UnavailableError(absl::StrCat("PostgreSQL ", describe_, ": connection lost"));
  }
  drain();
  if (!out.empty()) return out;
  absl::Status waited = Wait(false, deadline);
  if (absl::IsDeadlineExceeded(waited)) return out;
  if (!waited.ok()) return waited;
  if (!PQconsumeInput(conn_) || PQstatus(conn_) == CONNECTION_BAD) {
    healthy_ = false;
    return absl::UnavailableError(absl::StrCat("PostgreSQL ", describe_, ": connection lost"));
  }
  drain();
  return out;
}

PgPool::PgPool(PgPoolOptions options)
    : options_(std::move(options)), describe_(DescribeConninfo(options_.conninfo)) {}

PgPool::~PgPool() = default;

absl::StatusOr<std::unique_ptr<PgConnection>> PgPool::Borrow(absl::Time deadline) {
  {
    base::MutexLock lock(&mu_);
    // A CondVar rather than Mutex::Await: the waiter evaluates its own predicate (ThreadSanitizer
    // cannot see Debian's libabsl evaluate it on the unlocking thread).
    while (idle_.empty() && open_ >= options_.size) {
      if (room_.WaitWithDeadline(&mu_, deadline) && absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("PostgreSQL ", describe_, ": no free connection before the deadline"));
      }
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    ++open_;
  }
  absl::StatusOr<std::unique_ptr<PgConnection>> connection =
      PgConnection::Connect(options_.conninfo, deadline);
  if (!connection.ok()) {
    base::MutexLock lock(&mu_);
    --open_;
    room_.Signal();
  }
  return connection;
}

void PgPool::Return(std::unique_ptr<PgConnection> connection) {
  base::MutexLock lock(&mu_);
  if (connection->healthy()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
  room_.Signal();
}

absl::Status PgPool::Transaction(absl::Time deadline,
                                 const std::function<absl::Status(PgConnection&)>& body) {
  return Run(deadline, /*transaction=*/true, body);
}

absl::Status PgPool::Run(absl::Time deadline, bool transaction,
                         const std::function<absl::Status(PgConnection&)>& body) {
  absl::Duration backoff = absl::Milliseconds(20);
  absl::BitGen random;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::unique_ptr<PgConnection>> borrowed = Borrow(deadline);
    absl::Status status = borrowed.status();
    bool commit_sent = false;
    if (borrowed.ok()) {
      PgConnection& c = **borrowed;
      status = transaction ? c.Exec("BEGIN", deadline).status() : absl::OkStatus();
      if (status.ok()) status = body(c);
      if (status.ok() && transaction) {
        commit_sent = true;
        status = c.Exec("COMMIT", deadline).status();
      } else if (transaction && c.healthy()) {
        // Bounded by its own short deadline: the caller's may already have passed.
        if (!c.Exec("ROLLBACK", absl::Now() + absl::Seconds(2)).ok()) {
          // The connection is then unhealthy and will not be reused.
        }
      }
      Return(*std::move(borrowed));
    }
    if (status.ok()) return status;
    // A lost connection after COMMIT was sent is ambiguous: report it rather than re-run.
    bool retry = absl::IsAborted(status) || (absl::IsUnavailable(status) && !commit_sent);
    absl::Duration pause = backoff * absl::Uniform(random, 0.5, 1.5);
    if (!retry || attempt >= 5 || absl::Now() + pause >= deadline) return status;
    absl::SleepFor(pause);
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
}

absl::StatusOr<PgResult> PgPool::Query(absl::string_view sql,
                                       const std::vector<absl::optional<std::string>>& params,
                                       absl::Time deadline) {
  PgResult out;
  absl::Status status = Run(deadline, /*transaction=*/false, [&](PgConnection& c) -> absl::Status {
    absl::StatusOr<PgResult> result = c.Exec(sql, params, deadline);
    if (!result.ok()) return result.status();
    out = *std::move(result);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace isopool::store
