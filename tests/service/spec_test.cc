// spec.cc: an upload's spec -> pack options, and the build settings the server and
// `isopoolctl pack` both read through it. tests/cli proves pack's envelopes byte-identical with
// the server's end to end; these pin each rule where it is written.
#include "service/spec.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace isopool::service {
namespace {

v1::SnapshotSpec Spec(const std::string& name = "rules") {
  v1::SnapshotSpec spec;
  spec.set_name(name);
  return spec;
}

TEST(SpecToPackOptionsTest, DefaultsForAnEmptySpec) {
  BuildSettings settings;
  engine::PackOptions options;
  ASSERT_TRUE(SpecToPackOptions(Spec(), settings, &options).ok());
  EXPECT_EQ(options.kind, engine::BundleKind::kClassicScript);
  EXPECT_EQ(options.bundle_name, "bundle.js");  // not the snapshot's name: names move
  EXPECT_TRUE(options.deterministic);
  EXPECT_EQ(options.seed_time_ms, engine::kDefaultSeedTimeMs);
  EXPECT_EQ(options.function_code, engine::FunctionCode::kKeep);
  EXPECT_EQ(options.build_timeout_ms, settings.default_build_timeout_ms);
  EXPECT_EQ(options.build_heap_mib, settings.default_build_heap_mib);
  EXPECT_TRUE(options.annotations.empty());  // the server's defaults are not baked in
}

TEST(SpecToPackOptionsTest, EsModuleClearCodeAndExplicitFields) {
  v1::SnapshotSpec spec = Spec();
  spec.set_kind(v1::ES_MODULE);
  spec.set_entry("main");
  spec.set_deterministic(false);
  spec.set_seed_time_ms(42);
  spec.set_function_code(v1::CLEAR);
  spec.set_warmup_script("f()");
  engine::PackOptions options;
  ASSERT_TRUE(SpecToPackOptions(spec, BuildSettings(), &options).ok());
  EXPECT_EQ(options.kind, engine::BundleKind::kEsModule);
  EXPECT_EQ(options.bundle_name, "bundle.mjs");
  EXPECT_EQ(options.entry, "main");
  EXPECT_FALSE(options.deterministic);
  EXPECT_EQ(options.seed_time_ms, 42);
  EXPECT_EQ(options.function_code, engine::FunctionCode::kClear);
  EXPECT_EQ(options.warmup_script, "f()");
}

TEST(SpecToPackOptionsTest, BuildLimitsAreCappedByTheServersMaxima) {
  BuildSettings settings;
  settings.max_build_timeout_ms = 5000;
  settings.max_build_heap_mib = 128;
  v1::SnapshotSpec spec = Spec();
  spec.mutable_build_limits()->set_timeout_ms(999999);
  spec.mutable_build_limits()->set_heap_mib(64);
  engine::PackOptions options;
  ASSERT_TRUE(SpecToPackOptions(spec, settings, &options).ok());
  EXPECT_EQ(options.build_timeout_ms, 5000u);
  EXPECT_EQ(options.build_heap_mib, 64u);
}

TEST(SpecToPackOptionsTest, InvalidSpecsNameTheBadField) {
  BuildSettings settings;
  settings.max_isolates_per_snapshot = 4;
  engine::PackOptions options;
  for (const std::string& bad_name :
       {std::string(""), std::string("has space"), std::string(64, 'a')}) {
    absl::Status status = SpecToPackOptions(Spec(bad_name), settings, &options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad_name;
    EXPECT_NE(status.message().find("spec.name"), absl::string_view::npos) << status;
  }
  v1::SnapshotSpec too_many = Spec();
  too_many.mutable_pool()->set_max_isolates(5);
  absl::Status status = SpecToPackOptions(too_many, settings, &options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("spec.pool.max_isolates 5 is above the server's 4"),
            absl::string_view::npos)
      << status;
  v1::SnapshotSpec inverted = Spec();
  inverted.mutable_pool()->set_max_isolates(2);
  inverted.mutable_pool()->set_min_warm(3);
  status = SpecToPackOptions(inverted, settings, &options);
  EXPECT_NE(status.message().find("spec.pool.min_warm"), absl::string_view::npos) << status;
  v1::SnapshotSpec unknown_kind = Spec();
  unknown_kind.set_kind(static_cast<v1::BundleKind>(99));
  status = SpecToPackOptions(unknown_kind, settings, &options);
  EXPECT_NE(status.message().find("spec.kind"), absl::string_view::npos) << status;
}

TEST(ReadBuildSettingsTest, NothingSetKeepsTheServersDefaults) {
  std::vector<std::string> asked;
  absl::StatusOr<BuildSettings> settings =
      ReadBuildSettings([&asked](const std::string& name) -> absl::optional<std::string> {
        asked.push_back(name);
        return absl::nullopt;
      });
  ASSERT_TRUE(settings.ok()) << settings.status();
  const BuildSettings defaults;
  EXPECT_TRUE(settings->v8_flags.empty());
  EXPECT_EQ(settings->default_build_timeout_ms, defaults.default_build_timeout_ms);
  EXPECT_EQ(settings->max_build_timeout_ms, defaults.max_build_timeout_ms);
  EXPECT_EQ(settings->default_build_heap_mib, defaults.default_build_heap_mib);
  EXPECT_EQ(settings->max_build_heap_mib, defaults.max_build_heap_mib);
  EXPECT_EQ(settings->max_isolates_per_snapshot, defaults.max_isolates_per_snapshot);
  // Every setting it reads is one isopoolctl pack accepts as a flag, and the other way round.
  EXPECT_EQ(asked,
            std::vector<std::string>(std::begin(kBuildSettingNames), std::end(kBuildSettingNames)));
}

TEST(ReadBuildSettingsTest, EverySettingIsReadFromItsText) {
  const std::map<std::string, std::string> text = {
      {"v8_flags", " --no-opt  --stack-size=500 "},
      {"default_build_timeout_ms", "1"},
      {"max_build_timeout_ms", "2"},
      {"default_build_heap_mib", "3"},
      {"max_build_heap_mib", "4"},
      {"max_isolates_per_snapshot", "5"},
  };
  absl::StatusOr<BuildSettings> settings = ReadBuildSettings(
      [&text](const std::string& name) -> absl::optional<std::string> { return text.at(name); });
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->v8_flags, (std::vector<std::string>{"--no-opt", "--stack-size=500"}));
  EXPECT_EQ(settings->default_build_timeout_ms, 1u);
  EXPECT_EQ(settings->max_build_timeout_ms, 2u);
  EXPECT_EQ(settings->default_build_heap_mib, 3u);
  EXPECT_EQ(settings->max_build_heap_mib, 4u);
  EXPECT_EQ(settings->max_isolates_per_snapshot, 5);
}

TEST(ReadBuildSettingsTest, ANumberThatDoesNotParseNamesItsSetting) {
  absl::StatusOr<BuildSettings> settings =
      ReadBuildSettings([](const std::string& name) -> absl::optional<std::string> {
        if (name == "max_build_heap_mib") return std::string("lots");
        return absl::nullopt;
      });
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(settings.status().message(), "max_build_heap_mib must be a number, not 'lots'");
}

TEST(SettingEnvironmentVariableTest, IsopoolAndTheNameInUpperCase) {
  EXPECT_EQ(SettingEnvironmentVariable("max_build_heap_mib"), "ISOPOOL_MAX_BUILD_HEAP_MIB");
}

}  // namespace
}  // namespace isopool::service
