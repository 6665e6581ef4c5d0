// Differential tests of the web runtime against Node 20 (the oracle on this machine): the corpus
// in web_corpus/corpus.js runs in Node and in a blank isopool isolate, and every case's outcome
// must match. Cases where isopool knowingly differs are listed in kKnownDifferences, each with
// its reason.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace isopool::engine {
namespace {

std::string Runfile(const std::string& path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(dir ? dir : ".", "/", workspace ? workspace : "isopool", "/", path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// stdout of `command`, or "" when it fails.
std::string Output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  return pclose(pipe) == 0 ? out : "";
}

// Where isopool knowingly differs from Node: [a fragment of the case name, why].
constexpr char kKnownDifferences[] = R"JS([
  ["\u0661", `a host label that starts with an Arabic-Indic digit (U+0661): ICU 72's UTS #46
    CheckBidi applies RFC 5893 rule 1 and refuses it; Node 20's ada accepts it`],
  ["decoder label utf-16", "TextDecoder decodes UTF-8 only (issue 12); Node also has UTF-16"]
])JS";

// The cases in web_corpus/corpus.js (README.md says so); raise it when the corpus grows.
constexpr int kCorpusCases = 592;

TEST(WebDifferentialTest, SameOutcomesAsNode) {
  const std::string corpus_path = Runfile("tests/engine/web_corpus/corpus.js");
  const std::string corpus = ReadFile(corpus_path);
  ASSERT_FALSE(corpus.empty()) << corpus_path;
  const std::string node = Output(absl::StrCat("node ", corpus_path));
  ASSERT_FALSE(node.empty()) << "node (the oracle) did not run: is Node.js installed?";

  CallLimits limits;
  limits.wall = absl::Seconds(20);
  limits.cpu = absl::Seconds(20);
  limits.max_result_bytes = 4 << 20;
  CallResult r =
      testing::RunSource(absl::StrCat(corpus, "\n;(async () => {\n  const theirs = ", node,
                                      ";\n  const known = ", kKnownDifferences, ";\n",
                                      R"JS(  const mine = await runCorpus();
  const differences = [];
  for (const key of new Set([...Object.keys(theirs), ...Object.keys(mine)])) {
    const a = JSON.stringify(mine[key]), b = JSON.stringify(theirs[key]);
    if (a === b) continue;
    if (known.some(([fragment]) => key.includes(fragment))) continue;
    differences.push(`${key}\n    isopool: ${a}\n    node:    ${b}`);
  }
  return { cases: Object.keys(theirs).length, mine: Object.keys(mine).length, differences };
})())JS"),
                         limits);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_FALSE(r.error) << r.error->message << "\n" << r.error->stack;
  std::string shown = r.result_json;
  for (size_t at = 0; (at = shown.find("\\n", at)) != std::string::npos;) {
    shown.replace(at, 2, "\n");
  }
  EXPECT_NE(r.result_json.find(R"("differences":[]})"), std::string::npos) << shown;
  // The whole corpus ran on both sides (README.md cites the count): a corpus that stops early,
  // in Node or here, fails even when the cases that did run agree.
  int theirs_cases = -1, mine_cases = -1;
  ASSERT_EQ(
      std::sscanf(r.result_json.c_str(), R"({"cases":%d,"mine":%d,)", &theirs_cases, &mine_cases),
      2)
      << r.result_json.substr(0, 80);
  EXPECT_GE(theirs_cases, kCorpusCases);
  EXPECT_GE(mine_cases, kCorpusCases);
  std::printf("compared: %d cases from Node, %d here\n", theirs_cases, mine_cases);
}

}  // namespace
}  // namespace isopool::engine
