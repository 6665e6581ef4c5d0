// command_line.h: the parsed arguments of one isopoolctl command.
//
// isopoolctl has sub-commands with their own flags, which absl flags (one global namespace) does
// not model; this small parser does. Flags are `--name value`, `--name=value`, or bare booleans
// (`--esm`); `--` ends the flags. Anything else is positional.
//
//   absl::StatusOr<CommandLine> line = CommandLine::Parse(args, {{"name", true}, {"esm", false}});
//   if (line->Has("esm")) ...
//
// A plain value; not thread-safe to mutate, safe to read from any thread.
#ifndef ISOPOOL_CLI_COMMAND_LINE_H_
#define ISOPOOL_CLI_COMMAND_LINE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace isopool::cli {

struct FlagSpec {
  std::string name;  // without the leading dashes
  bool takes_value;
};

class CommandLine {
 public:
  // InvalidArgument for an unknown flag, a value given to a boolean flag, a missing value, or a
  // flag given twice.
  static absl::StatusOr<CommandLine> Parse(const std::vector<std::string>& args,
                                           const std::vector<FlagSpec>& known);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // The flag as an unsigned number; `fallback` when absent. InvalidArgument when not a number.
  absl::StatusOr<uint32_t> GetU32(const std::string& name, uint32_t fallback) const;
  absl::StatusOr<int64_t> GetI64(const std::string& name, int64_t fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace isopool::cli

#endif  // ISOPOOL_CLI_COMMAND_LINE_H_
