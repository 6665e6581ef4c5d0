// JsIsolate::Run and its helpers: one call, under limits, to a JSON result or a ScriptError.
#include <v8.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/internal/call_scope.h"
#include "engine/internal/v8_state.h"
#include "engine/internal/v8_util.h"
#include "engine/internal/web.h"
#include "engine/js_isolate.h"

namespace isopool::engine {

using internal::ErrorFromTryCatch;
using internal::ToStdString;
using internal::ToV8String;

namespace {

size_t HeapUsed(v8::Isolate* isolate) {
  v8::HeapStatistics stats;
  isolate->GetHeapStatistics(&stats);
  return stats.used_heap_size();
}

// Finds the function a call names, and the `this` it is a method of.
absl::Status ResolveFunction(v8::Isolate* isolate, v8::Local<v8::Context> context,
                             const Snapshot& snapshot, const std::string& name,
                             v8::Local<v8::Function>* function, v8::Local<v8::Value>* receiver) {
  bool esm = !snapshot.blank() && snapshot.envelope().options.kind == BundleKind::kEsModule;
  v8::Local<v8::Object> root = context->Global();
  if (esm) {
    v8::Local<v8::Value> exports;
    if (!root->Get(context, ToV8String(isolate, internal::kExportsGlobal)).ToLocal(&exports) ||
        !exports->IsObject()) {
      return absl::InternalError("the module's exports are missing from the snapshot");
    }
    root = exports.As<v8::Object>();
  }
  std::vector<std::string> path = absl::StrSplit(name, '.');
  v8::Local<v8::Value> holder = root;
  v8::Local<v8::Value> value;
  for (size_t i = 0; i < path.size(); ++i) {
    if (!holder->IsObject() ||
        !holder.As<v8::Object>()->Get(context, ToV8String(isolate, path[i])).ToLocal(&value)) {
      value = v8::Undefined(isolate);
      break;
    }
    if (i + 1 < path.size()) holder = value;
  }
  // ES modules: a bare name may also be a method of the default export.
  if (esm && path.size() == 1 && !value->IsFunction()) {
    v8::Local<v8::Value> default_export;
    if (root->Get(context, ToV8String(isolate, "default")).ToLocal(&default_export) &&
        default_export->IsObject() &&
        default_export.As<v8::Object>()->Get(context, ToV8String(isolate, name)).ToLocal(&value)) {
      holder = default_export;
    }
  }
  if (!value->IsFunction()) {
    if (esm) {
      return absl::InvalidArgumentError(
          absl::StrCat("no function '", name, "' in this snapshot; the module exports: ",
                       absl::StrJoin(snapshot.envelope().exports, ", "),
                       " (a bare name may also be a method of the default export)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("no global function '", name, "' in this snapshot"));
  }
  *function = value.As<v8::Function>();
  *receiver = holder;
  return absl::OkStatus();
}

absl::Status ParseArgs(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       const std::string& args_json, std::vector<v8::Local<v8::Value>>* args) {
  if (args_json.empty()) return absl::OkStatus();
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> parsed;
  if (!v8::JSON::Parse(context, ToV8String(isolate, args_json)).ToLocal(&parsed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("args_json is not valid JSON: ", ToStdString(isolate, try_catch.Exception())));
  }
  if (!parsed->IsArray()) {
    return absl::InvalidArgumentError("args_json must be a JSON array of arguments, e.g. [1, 2]");
  }
  v8::Local<v8::Array> array = parsed.As<v8::Array>();
  for (uint32_t i = 0; i < array->Length(); ++i) {
    args->push_back(array->Get(context, i).ToLocalChecked());
  }
  return absl::OkStatus();
}

ScriptError ErrorFromRejection(v8::Isolate* isolate, v8::Local<v8::Context> context,
                               v8::Local<v8::Value> reason) {
  ScriptError error;
  error.kind = ErrorKind::kException;
  error.message = ToStdString(isolate, reason);
  if (reason->IsObject()) {
    v8::TryCatch ignore(isolate);
    v8::Local<v8::Value> stack;
    if (reason.As<v8::Object>()->Get(context, ToV8String(isolate, "stack")).ToLocal(&stack) &&
        stack->IsString()) {
      error.stack = ToStdString(isolate, stack);
    }
  }
  v8::Local<v8::Message> message = v8::Exception::CreateMessage(isolate, reason);
  if (!message.IsEmpty()) {
    error.line = message->GetLineNumber(context).FromMaybe(0);
    error.column = message->GetStartColumn(context).FromMaybe(-1) + 1;
  }
  return error;
}

// Compiles and runs the inline source, or calls the named function with its arguments. Returns
// whether it returned a value; when not, `result` may already say why (a syntax error, or a
// request that names no function or sends bad arguments), else `try_catch` holds the exception.
bool Invoke(v8::Isolate* isolate, v8::Local<v8::Context> context, const Snapshot& snapshot,
            const CallRequest& request, const v8::TryCatch& try_catch, CallResult* result,
            v8::Local<v8::Value>* value) {
  if (!request.source.empty()) {
    v8::ScriptOrigin origin(isolate, ToV8String(isolate, "inline.js"));
    v8::Local<v8::Script> script;
    if (!v8::Script::Compile(context, ToV8String(isolate, request.source), &origin)
             .ToLocal(&script)) {
      if (!try_catch.HasTerminated()) {
        result->error = ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kSyntax);
      }
      return false;
    }
    return script->Run(context).ToLocal(value);
  }
  v8::Local<v8::Function> function;
  v8::Local<v8::Value> receiver;
  std::vector<v8::Local<v8::Value>> args;
  result->status =
      ResolveFunction(isolate, context, snapshot, request.function, &function, &receiver);
  if (result->status.ok()) result->status = ParseArgs(isolate, context, request.args_json, &args);
  if (!result->status.ok()) return false;
  return function->Call(context, receiver, static_cast<int>(args.size()), args.data())
      .ToLocal(value);
}

// The settled value of a call that finished on its own, as the JSON result, or the ScriptError
// it ends with: an exception, a rejected or never-settling promise, a result too large or not
// JSON.
void SettleResult(v8::Isolate* isolate, v8::Local<v8::Context> context, bool ran,
                  v8::Local<v8::Value> value, const v8::TryCatch& try_catch,
                  const CallLimits& limits, CallResult* result) {
  if (!ran) {
    result->error = ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kException);
    return;
  }
  if (value->IsPromise()) {
    v8::Local<v8::Promise> promise = value.As<v8::Promise>();
    if (promise->State() == v8::Promise::kRejected) {
      result->error = ErrorFromRejection(isolate, context, promise->Result());
      return;
    }
    if (promise->State() == v8::Promise::kPending) {
      result->error = ScriptError{ErrorKind::kPromiseNeverSettled,
                                  "the returned promise never settles: nothing is left that "
                                  "could resolve it (no timers are pending, and there is no I/O)",
                                  "", 0, 0};
      return;
    }
    value = promise->Result();
  }
  if (value->IsUndefined() || value->IsFunction() || value->IsSymbol()) {
    result->result_json = "null";
    return;
  }
  v8::TryCatch json_catch(isolate);
  v8::Local<v8::String> json;
  if (!v8::JSON::Stringify(context, value).ToLocal(&json)) {
    if (json_catch.HasTerminated()) return;
    result->error = ErrorFromTryCatch(isolate, context, json_catch, ErrorKind::kResultNotJson);
    result->error->message =
        absl::StrCat("the result cannot be serialised to JSON: ", result->error->message);
    return;
  }
  if (static_cast<size_t>(json->Utf8Length(isolate)) > limits.max_result_bytes) {
    result->error = ScriptError{ErrorKind::kResultTooLarge,
                                absl::StrCat("the JSON result is ", json->Utf8Length(isolate),
                                             " bytes, over the limit of ", limits.max_result_bytes),
                                "", 0, 0};
    return;
  }
  result->result_json = ToStdString(isolate, json);
}

// Why a terminated call stopped, as its ScriptError, and the reason to condemn the isolate.
std::pair<ScriptError, CondemnReason> TerminationError(bool memory_limit_hit, Watchdog::Fired fired,
                                                       const CallLimits& limits) {
  if (memory_limit_hit) {
    return {{ErrorKind::kMemoryLimit, "the script exceeded its memory limit", "", 0, 0},
            CondemnReason::kMemoryLimit};
  }
  if (fired == Watchdog::Fired::kWall) {
    return {
        {ErrorKind::kTimeout,
         absl::StrCat("the script ran past its ", absl::FormatDuration(limits.wall), " timeout"),
         "", 0, 0},
        CondemnReason::kTimeout};
  }
  if (fired == Watchdog::Fired::kCpu) {
    return {{ErrorKind::kCpuLimit,
             absl::StrCat("the script used more than its ", absl::FormatDuration(limits.cpu),
                          " of CPU time"),
             "", 0, 0},
            CondemnReason::kCpuLimit};
  }
  return {{ErrorKind::kTerminated, "the script was terminated", "", 0, 0}, CondemnReason::kError};
}

absl::Status CheckRunnable(const Snapshot& snapshot, CondemnReason condemned,
                           const CallRequest& request) {
  if (condemned != CondemnReason::kNone) {
    return absl::FailedPreconditionError("this isolate is condemned");
  }
  if (request.function.empty() == request.source.empty()) {
    return absl::InvalidArgumentError("a call needs exactly one of function and source");
  }
  if (snapshot.blank() && !request.function.empty()) {
    return absl::InvalidArgumentError(
        "the blank snapshot has no functions: send inline source, or upload a bundle and name "
        "its snapshot");
  }
  return absl::OkStatus();
}

}  // namespace

CallResult JsIsolate::Run(const CallRequest& request, const CallLimits& limits, ContextUse use) {
  CallResult result;
  result.status = CheckRunnable(*snapshot_, condemned_, request);
  if (!result.status.ok()) return result;
  // Make sure the context exists before entering (PrepareContext enters on its own).
  bool need_context = use == ContextUse::kShared ? v8_->shared.IsEmpty() : v8_->spares.empty();
  if (need_context) {
    result.status = PrepareContext();
    if (!result.status.ok()) {
      Condemn(CondemnReason::kError);
      return result;
    }
  }
  auto* isolate = static_cast<v8::Isolate*>(isolate_);
  internal::EnteredIsolate entered(isolate, options_.stack_bytes);
  v8::Global<v8::Context> fresh;
  if (use == ContextUse::kShared) {
    if (v8_->shared.IsEmpty()) {
      v8_->shared = std::move(v8_->spares.front());
      v8_->spares.pop_front();
    }
  } else {
    fresh = std::move(v8_->spares.front());
    v8_->spares.pop_front();
  }
  v8::Local<v8::Context> context =
      use == ContextUse::kShared ? v8_->shared.Get(isolate) : fresh.Get(isolate);
  ++uses_;
  result.stats.heap_before_bytes = HeapUsed(isolate);
  internal::WebHost& web = *v8_->web;
  web.ResetConsole();
  web.TakeSleepTime();
  ActiveCall call(limits, result.logs);
  const absl::Time wall_start = absl::Now();
  Watchdog::Fired fired;
  bool unresponsive;
  bool terminated;
  {
    CallScope scope(*this, call);
    v8::Context::Scope context_scope(context);
    Watchdog::Watch watch(watchdog_, isolate, limits.wall, limits.cpu);
    v8::TryCatch try_catch(isolate);
    auto stopped = [&] {
      return try_catch.HasTerminated() || isolate->IsExecutionTerminating() ||
             watch.fired() != Watchdog::Fired::kNone || call.memory_limit_hit;
    };
    v8::Local<v8::Value> value;
    bool ran = Invoke(isolate, context, *snapshot_, request, try_catch, &result, &value);
    // Settle a returned promise, and drain what the call left queued. A microtask loop is
    // stopped here by the watchdog like any other loop.
    if (!try_catch.HasTerminated()) isolate->PerformMicrotaskCheckpoint();
    // The event loop: while the result is pending, fire timers (sleeping until each is due) and
    // pump the platform. A timer due after the deadline ends the call now: nothing ran away, so
    // the isolate stays fit.
    bool timer_past_deadline = false;
    if (ran && !stopped() && value->IsPromise() &&
        value.As<v8::Promise>()->State() == v8::Promise::kPending) {
      double deadline_ms =
          web.PeekNow() + absl::ToDoubleMilliseconds(wall_start + limits.wall - absl::Now());
      timer_past_deadline = internal::RunEventLoop(isolate, context, value.As<v8::Promise>(),
                                                   deadline_ms) == internal::LoopEnd::kPastDeadline;
    }
    terminated = stopped();
    if (!terminated && timer_past_deadline) {
      result.error = ScriptError{
          ErrorKind::kTimeout,
          absl::StrCat("the script ran past its ", absl::FormatDuration(limits.wall),
                       " timeout: the returned promise waits on a timer due after the deadline"),
          "", 0, 0};
    } else if (!terminated && result.status.ok() && !result.error) {
      SettleResult(isolate, context, ran, value, try_catch, limits, &result);
      terminated = stopped();  // serialising the result runs getters and toJSON
    }
    // Timers left behind die with the call: in kShared mode they must never fire in the next.
    if (std::optional<internal::Timers> timers = internal::Timers::Of(context)) timers->Clear();
    web.set_timers_pending(false);
    fired = watch.fired();
    unresponsive = watch.unresponsive();
    result.stats.cpu = watch.cpu_used();  // the watch already reads this thread's CPU clock
  }  // the watch and the scope are gone: nothing can terminate or write into this call any more
  result.stats.wall = absl::Now() - wall_start;
  result.stats.timer_sleep = web.TakeSleepTime();
  result.logs_truncated = call.logs_truncated;
  // The watchdog may have fired after the last check above (a timer loop that ended at the
  // deadline races the wall limit): the call had finished, so its result stands, but the
  // termination it requested is still pending and would stop the next call at once.
  if (!terminated) isolate->CancelTerminateExecution();

  if (terminated) {
    isolate->CancelTerminateExecution();
    auto [error, reason] = TerminationError(call.memory_limit_hit, fired, limits);
    Condemn(reason);
    result.error = std::move(error);
    result.result_json.clear();
    result.status = absl::OkStatus();
  }
  if (unresponsive) condemned_ = CondemnReason::kUnresponsive;  // worse than the limit itself
  result.condemned = condemned_;
  if (use == ContextUse::kFresh) {
    fresh.Reset();
    isolate->ContextDisposedNotification();
  }
  result.stats.heap_after_bytes = HeapUsed(isolate);
  return result;
}

}  // namespace isopool::engine
