// isopoolctl: the command-line client of isopool. `isopoolctl --help` lists the commands, the
// global flags and the exit codes; cli/README.md has the same with examples.
#include <signal.h>
#include <stdlib.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace isopool::cli {
namespace {

constexpr char kDefaultAddr[] = "127.0.0.1:50051";

const char kGlobalHelp[] = R"(Global flags (any command, before or after it):
  --addr HOST:PORT        the server (default: $ISOPOOL_ADDR, else 127.0.0.1:50051)
  --json                  print one JSON object on stdout for scripts (errors too:
                          {"status":{"code":"NOT_FOUND","message":"..."}})
  --deadline_ms N         the gRPC deadline of each call (default: upload 10 min, exec 60 s
                          or the asked timeout + 10 s, others 30 s)
  --help, -h              this text, or a command's
)";

const char kExitCodes[] = R"(Exit codes:
  0  ok
  1  script error: Execute worked but the script failed (exception, timeout, limit, ...)
  2  usage error: bad command line, unreadable input file
  3  not found: unknown snapshot (NOT_FOUND)
  4  invalid argument: bad request, args not JSON, unknown function, bundle that does not
     build (INVALID_ARGUMENT)
  5  resource exhausted or deadline: pool queue full, memory budget, build limits
     (RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED)
  6  unavailable: cannot connect, server draining, health not SERVING (UNAVAILABLE)
  7  other (e.g. FAILED_PRECONDITION, INTERNAL)
)";

const std::vector<const Command*>& Commands() {
  static const std::vector<const Command*>* commands = new std::vector<const Command*>{
      &UploadCommand(), &ExecCommand(),   &GetCommand(), &ListCommand(),
      &RmCommand(),     &HealthCommand(), &PackCommand()};
  return *commands;
}

const Command* FindCommand(const std::string& name) {
  for (const Command* command : Commands()) {
    if (name == command->name) return command;
  }
  return nullptr;
}

void PrintTopHelp(std::ostream& out) {
  out << "Usage: isopoolctl COMMAND [flags]\n\n"
      << "The command-line client of isopool, which runs JavaScript in pooled V8 isolates.\n\n"
      << "Commands:\n";
  for (const Command* command : Commands()) {
    std::string name = command->name;
    out << "  " << name << std::string(10 - name.size(), ' ') << command->summary << "\n";
  }
  out << "  help      'isopoolctl help COMMAND' (or 'isopoolctl COMMAND --help')\n\n"
      << kGlobalHelp << "\n"
      << kExitCodes;
}

void PrintCommandHelp(const Command& command) {
  std::cout << command.help << "\n" << kGlobalHelp << "\n" << kExitCodes;
}

bool IsGlobalFlagWithValue(const std::string& arg) {
  return arg == "--addr" || arg == "--deadline_ms";
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // The command is the first positional argument; global flags may come before it.
  int command_index = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (IsGlobalFlagWithValue(args[i])) {
      ++i;
      continue;
    }
    if (args[i].empty() || args[i][0] != '-') {
      command_index = static_cast<int>(i);
      break;
    }
  }
  if (command_index < 0) {
    for (const std::string& arg : args) {
      if (arg == "--help" || arg == "-h") {
        PrintTopHelp(std::cout);
        return kExitOk;
      }
    }
    PrintTopHelp(std::cerr);
    return kExitUsage;
  }
  std::string name = args[command_index];
  args.erase(args.begin() + command_index);
  if (name == "help") {
    absl::StatusOr<CommandLine> line = CommandLine::Parse(args, GlobalFlags());
    if (!line.ok()) {
      std::cerr << "isopoolctl help: " << line.status().message() << "\n";
      return kExitUsage;
    }
    const std::vector<std::string>& rest = line->positional();
    if (rest.empty()) {
      PrintTopHelp(std::cout);
      return kExitOk;
    }
    const Command* command = FindCommand(rest[0]);
    if (command == nullptr) {
      std::cerr << "isopoolctl: unknown command '" << rest[0] << "'\n";
      return kExitUsage;
    }
    PrintCommandHelp(*command);
    return kExitOk;
  }
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    std::cerr << "isopoolctl: unknown command '" << name << "'; run 'isopoolctl --help'\n";
    return kExitUsage;
  }
  std::vector<FlagSpec> flags = command->flags;
  flags.insert(flags.end(), GlobalFlags().begin(), GlobalFlags().end());

  Invocation invocation;
  invocation.command = name;
  absl::StatusOr<CommandLine> line = CommandLine::Parse(args, flags);
  if (!line.ok()) return UsageError(invocation, std::string(line.status().message()));
  invocation.line = *std::move(line);
  if (invocation.line.Has("help")) {
    PrintCommandHelp(*command);
    return kExitOk;
  }
  const char* env_addr = getenv("ISOPOOL_ADDR");
  invocation.addr = invocation.line.Get(
      "addr", env_addr != nullptr && *env_addr != '\0' ? env_addr : kDefaultAddr);
  invocation.json = invocation.line.Has("json");
  absl::StatusOr<int64_t> deadline = invocation.line.GetI64("deadline_ms", 0);
  if (!deadline.ok()) return UsageError(invocation, std::string(deadline.status().message()));
  invocation.deadline_ms = *deadline;
  return command->run(invocation);
}

}  // namespace
}  // namespace isopool::cli

int main(int argc, char** argv) {
  // A closed pipe (isopoolctl ... | head) must not kill us mid-write with no exit code.
  signal(SIGPIPE, SIG_IGN);
  return isopool::cli::Main(argc, argv);
}
