// fds.h: the descriptors a worker process is started with (see worker_main.cc).
#ifndef ISOPOOL_WORKER_FDS_H_
#define ISOPOOL_WORKER_FDS_H_

namespace isopool::worker {

inline constexpr int kCallsFd = 3;    // calls in, outcomes out (SOCK_SEQPACKET)
inline constexpr int kControlFd = 4;  // ToWorker in, FromWorker out (SOCK_SEQPACKET)
inline constexpr int kCrashFd = 5;    // CrashRecords out (a pipe)

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_FDS_H_
