// web.h: the web platform inside isolates (TextEncoder, URL, timers, crypto, ...): lazy globals,
// their native functions, the runtime modules behind them, and the timers of the event loop.
// Engine-private: V8 types never leave engine/.
//
// How a script sees it. Every context's global object carries lazy data properties (one per web
// global, see docs/api.md). The first read of, say, `URL` calls LazyGlobal, which compiles and
// runs the runtime module that defines it ("url", built by Bazel from engine/web/js and pinned
// npm packages), caches the module's exports in the context, and replaces the property with its
// value. A call that touches none of these globals pays only for the accessors on the global.
//
//   WebHost host(isolate, WebHost::Options{});         // one per isolate, before any context
//   v8::Local<v8::Context> c = v8::Context::New(isolate, nullptr, host.GlobalTemplate());
//   ...                                                 // scripts run; URL loads on first use
//   host.Dispose();                                     // before the isolate is disposed
//
// Snapshots. The lazy accessors and any module loaded while packing are in the snapshot, so a
// context restored from it needs no template. Every native function reachable from a snapshotted
// context must be in ExternalReferences(), given to SnapshotCreator and to every Isolate::New.
// That table is append-only: a new native is appended and its new length appended to
// kExternalReferencesCounts, which raises kExternalReferencesVersion; the version is part of the
// compatibility digest, so older envelopes are refused cleanly. web.cc does not compile when the
// table's length is not the last count (a native added without a new version).
//
// Determinism. A pinned WebHost (packing) answers crypto.getRandomValues from a seeded SHA-256
// stream and performance.now from a virtual clock (+1 ms per read; timers jump it to their due
// time), so two packs of one bundle are byte-identical. At run time both are live: OpenSSL's
// RAND_bytes (getrandom(2)) and CLOCK_MONOTONIC.
//
// Worker processes lock themselves down with seccomp after V8 is up. Everything the natives need
// from the OS is therefore initialised by InitializeWebRuntime (called from InitializeRuntime):
// OpenSSL's configuration, its DRBG (RAND_bytes, which later uses only getrandom(2)), the
// digests and key types crypto.subtle uses, and ICU's UTS #46 instance for URL hosts. After that
// the natives make no system calls except getrandom(2), clock_gettime (vDSO) and the
// nanosleep/futex of a sleeping timer.
//
// Threads: a WebHost belongs to its isolate; use it only with the isolate locked.
#ifndef ISOPOOL_ENGINE_INTERNAL_WEB_H_
#define ISOPOOL_ENGINE_INTERNAL_WEB_H_

#include <v8.h>

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/call.h"
#include "engine/observer.h"

namespace isopool::engine::internal {

// The length of ExternalReferences() (without its null) at each version, version 1 first.
// Appending a native means appending its new length here, which bumps the version; web.cc
// static_asserts that the table has the last length and that lengths only grow. (Replacing an
// entry in place keeps the length: that is what "append only" forbids and no check can see.)
inline constexpr int kExternalReferencesCounts[] = {
    11,  // v1: lazy globals, module loader, encoding, crypto.getRandomValues/digest, clock, ...
    16,  // v2: crypto.subtle keys
    19,  // v3: console and timers (snapshotted since 0c7dbbc, which appended them under v2)
};
// The version of ExternalReferences(): how many versions the table has had.
inline constexpr int kExternalReferencesVersion =
    sizeof(kExternalReferencesCounts) / sizeof(kExternalReferencesCounts[0]);

// The native functions of the web runtime, null-terminated, in a fixed order.
const intptr_t* ExternalReferences();

// Process-wide initialisation (OpenSSL, ICU's IDNA). Called once by InitializeRuntime, before any
// sandboxing. Returns an error when a required algorithm is missing.
absl::Status InitializeWebRuntime();

// Made once by InitializeRuntime (unless told not to): a snapshot of V8's blank context with the
// web globals and the console already in place, so that blank-snapshot contexts cost what V8's
// own blank contexts cost. Null when not made; then blank contexts take GlobalTemplate().
const v8::StartupData* BlankBlob();
// Makes BlankBlob(). Must run before any other isolate exists (a SnapshotCreator beside a live
// isolate corrupts V8 10.2's shared read-only heap).
absl::Status MakeBlankBlob();

// Where console output goes: the JsIsolate running a call. Absent while packing (dropped).
// JsIsolate is its one implementation; it is an interface because this library sits below
// js_isolate.h in the build (//engine:internal cannot name JsIsolate, which depends on it).
class ConsoleSink {
 public:
  virtual ~ConsoleSink() = default;
  // False when nothing would be kept (no call is running, or its log cap is reached).
  virtual bool ConsoleActive() = 0;
  // One line of console output, already formatted and indented.
  virtual void ConsoleWrite(LogLevel level, std::string text) = 0;
};

// The isolate data slot that holds the WebHost (slot 0 is the JsIsolate).
inline constexpr uint32_t kWebHostSlot = 1;

class WebHost {
 public:
  struct Options {
    // Deterministic values for packing (see the file comment).
    bool pinned = false;
    // Pinned: performance.timeOrigin and the seed of the random stream.
    int64_t seed_time_ms = 0;
  };

  WebHost(v8::Isolate* isolate, Options options);
  ~WebHost();
  WebHost(const WebHost&) = delete;
  WebHost& operator=(const WebHost&) = delete;

  // The WebHost of `isolate`, or nullptr.
  static WebHost* From(v8::Isolate* isolate);

  // Releases the V8 handles it keeps; call before the isolate is disposed (or CreateBlob).
  void Dispose();

  // A global template with the lazy web globals, for contexts not restored from a snapshot.
  v8::Local<v8::ObjectTemplate> GlobalTemplate();
  // Puts `console` on the context's global: native debug/info/log/warn/error/trace and group/
  // groupCollapsed/groupEnd (to the ConsoleSink), and lazy assert, count, table, time, ... (JS).
  // Packing puts it into every snapshot, so restored contexts already have it.
  bool InstallConsole(v8::Local<v8::Context> context);
  void set_console_sink(ConsoleSink* sink) { console_sink_ = sink; }
  ConsoleSink* console_sink() const { return console_sink_; }
  // console.group nesting of the current call; ResetConsole at the start of each call.
  int& console_depth() { return console_depth_; }
  void ResetConsole() { console_depth_ = 0; }

  bool pinned() const { return options_.pinned; }
  // performance.now(): milliseconds since time_origin_ms(). Pinned: the virtual clock, which
  // advances 1 ms per read.
  double Now();
  // The clock without advancing it.
  double PeekNow() const;
  // performance.timeOrigin: Unix time in ms.
  double time_origin_ms() const { return time_origin_ms_; }
  // Waits until Now() >= `due_ms`: sleeps (live) or jumps the virtual clock (pinned).
  void SleepUntil(double due_ms);
  // Cryptographically strong bytes (live), or the seeded stream (pinned).
  void RandomBytes(uint8_t* out, size_t length);

  // Set when a script adds a timer to an empty timer list; cleared when timers are dropped.
  // While false, Timers::Of skips looking (calls that never set a timer pay nothing).
  bool timers_pending() const { return timers_pending_; }
  void set_timers_pending(bool pending) { timers_pending_ = pending; }

  // Time spent in SleepUntil since the last call of TakeSleepTime.
  absl::Duration TakeSleepTime();
  // Told about every sleep (may be null; must outlive the host).
  void set_observer(EngineObserver* observer) { observer_ = observer; }

 private:
  v8::Isolate* const isolate_;
  const Options options_;
  double time_origin_ms_;
  int64_t monotonic_origin_ns_;
  double virtual_now_ms_ = 0;
  uint64_t random_counter_ = 0;
  absl::Duration slept_;
  EngineObserver* observer_ = nullptr;
  ConsoleSink* console_sink_ = nullptr;
  int console_depth_ = 0;
  bool timers_pending_ = false;
  v8::Global<v8::ObjectTemplate> console_template_;
  v8::Global<v8::ObjectTemplate> global_template_;
  v8::Global<v8::ObjectTemplate> natives_template_;
  friend v8::MaybeLocal<v8::Object> NativesFor(v8::Isolate*, v8::Local<v8::Context>);
};

// Loads (once per context) the runtime module `name` and returns its exports.
v8::MaybeLocal<v8::Object> LoadWebModule(v8::Local<v8::Context> context, const char* name);

// The context's timers (only when the script loaded them).
class Timers {
 public:
  // Empty when the context never used setTimeout/setInterval.
  static std::optional<Timers> Of(v8::Local<v8::Context> context);

  // The due time (WebHost clock, ms) of the earliest timer, or nullopt when there is none.
  std::optional<double> NextDue();
  // Runs the earliest timer (its exceptions go to reportError). False when JavaScript was
  // terminated.
  bool FireNext();
  // Drops every timer.
  void Clear();

 private:
  Timers(v8::Local<v8::Context> context, v8::Local<v8::Object> loop)
      : context_(context), loop_(loop) {}
  v8::Local<v8::Context> context_;
  v8::Local<v8::Object> loop_;
};

// The process's V8 platform, set once by InitializeRuntime (runtime.cc).
void SetRuntimePlatform(v8::Platform* platform);

// Runs the platform's foreground tasks for `isolate` that are ready now (e.g. a finished
// asynchronous WebAssembly compilation). Returns true when any ran.
bool PumpPlatform(v8::Isolate* isolate);

// The event loop after a call's first microtask checkpoint: while `pending` (may be empty: then
// until no timers remain) is unsettled, fire timers in order (sleeping until each is due), pump
// the platform and drain microtasks.
enum class LoopEnd {
  kSettled,        // `pending` settled, or no promise and no timers left
  kNothingToWait,  // pending, with no timers and no platform work: it can never settle
  kPastDeadline,   // the next timer is due after `deadline_ms`
  kTerminated,     // JavaScript was terminated (a limit)
};
LoopEnd RunEventLoop(v8::Isolate* isolate, v8::Local<v8::Context> context,
                     v8::Local<v8::Promise> pending, double deadline_ms);

}  // namespace isopool::engine::internal

#endif  // ISOPOOL_ENGINE_INTERNAL_WEB_H_
