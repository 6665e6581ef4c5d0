// Crash-safe file primitives for the snapshot store.
//
// The one durable-write recipe used everywhere in store/:
//   1. create a temp file (".tmp-<pid>-<n>-<random>") in the destination's own directory,
//   2. write all bytes, fsync(file), close,
//   3. rename(temp, final)  -- atomic replace within one filesystem,
//   4. fsync(directory)     -- makes the rename itself durable.
// After a crash (kill -9 or power loss) at any step, `final` holds either its old contents or
// the complete new contents, never a mix; the only debris is temp files, which are recognised
// by IsTempFileName() and removed when the store opens.
//
//   absl::Status s = WriteFileAtomically("/data", "names", contents);
//
// Errors come back as absl::Status built from errno (ENOENT -> NotFound, ENOSPC ->
// ResourceExhausted, ...), with the path in the message.
//
// Thread safety: all functions are free functions without shared state and may be called
// from any thread. Concurrent writers of the *same* final path must be serialised by the
// caller (the last rename wins).

#ifndef ISOPOOL_STORE_ATOMIC_FILE_H_
#define ISOPOOL_STORE_ATOMIC_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace isopool::store {

// True for names made by WriteTempFile (debris of an interrupted write).
bool IsTempFileName(absl::string_view file_name);

// Steps 1-2: writes `contents` to a fresh temp file in `dir`, fsyncs and closes it. Returns
// the temp file's full path. On error the temp file is removed.
absl::StatusOr<std::string> WriteTempFile(const std::string& dir, absl::string_view contents);

// Steps 3-4: rename(from, to), then fsync(to_dir). `to_dir` must be the directory of `to`.
absl::Status RenameDurably(const std::string& from, const std::string& to,
                           const std::string& to_dir);

// Steps 1-4 for `dir`/`name`.
absl::Status WriteFileAtomically(const std::string& dir, const std::string& name,
                                 absl::string_view contents);

// fsync of a directory, so that renames/unlinks/creates inside it are durable.
absl::Status SyncDir(const std::string& dir);

// Reads a whole file. NotFound if it does not exist.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// unlink(path). NotFound if it does not exist. Does not sync the directory.
absl::Status RemoveFile(const std::string& path);

// Size in bytes of a regular file. NotFound if it does not exist.
absl::StatusOr<uint64_t> FileSize(const std::string& path);

// Names (not paths) of the entries in `dir`, excluding "." and "..", in no particular order.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);

// mkdir -p, then fsync of each parent whose contents changed.
absl::Status MakeDirs(const std::string& dir);

// absl::Status from an errno value, e.g. ErrnoStatus(errno, "open", path).
absl::Status ErrnoStatus(int error_number, absl::string_view op, absl::string_view path);

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_ATOMIC_FILE_H_
