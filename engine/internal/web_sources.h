// web_sources.h: the JavaScript of the web runtime's modules, embedded by Bazel
// (//engine/web:web_sources, generated from engine/web/js and the pinned npm packages).
//
// Each source is an ASCII function expression `(function (natives, load) { ...; return exports; })`
// that internal::LoadWebModule runs once per context, on first use.
#ifndef ISOPOOL_ENGINE_INTERNAL_WEB_SOURCES_H_
#define ISOPOOL_ENGINE_INTERNAL_WEB_SOURCES_H_

#include <cstddef>

namespace isopool::engine::internal {

struct WebModuleSource {
  const char* name;
  const char* source;
  size_t length;
};

extern const WebModuleSource kWebModules[];
extern const size_t kWebModuleCount;

}  // namespace isopool::engine::internal

#endif  // ISOPOOL_ENGINE_INTERNAL_WEB_SOURCES_H_
