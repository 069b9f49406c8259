#include "http/static_docs.h"

#include <fstream>
#include <sstream>

namespace qc {

StaticDocs::StaticDocs(const std::filesystem::path& dir) : dir_(dir) {
  struct Entry {
    const char* url;
    const char* file;
    const char* type;
  };
  static const Entry entries[] = {
      {"/openapi.json", "openapi.json", "application/json"},
      {"/docs", "docs_index.html", "text/html; charset=utf-8"},
      {"/docs/swagger-ui.css", "swagger-ui.css", "text/css; charset=utf-8"},
      {"/docs/swagger-ui-bundle.js", "swagger-ui-bundle.js", "application/javascript; charset=utf-8"},
      {"/docs/swagger-ui-standalone-preset.js", "swagger-ui-standalone-preset.js",
       "application/javascript; charset=utf-8"},
      {"/docs/favicon-32x32.png", "favicon-32x32.png", "image/png"},
      // The dashboard (GET /, web/ and the lightweight-charts npm package).
      {"/", "index.html", "text/html; charset=utf-8"},
      {"/web/dashboard.css", "dashboard.css", "text/css; charset=utf-8"},
      {"/web/format.js", "format.js", "application/javascript; charset=utf-8"},
      {"/web/performance.js", "performance.js", "application/javascript; charset=utf-8"},
      {"/web/dashboard.js", "dashboard.js", "application/javascript; charset=utf-8"},
      {"/web/lightweight-charts.standalone.production.js", "lightweight-charts.standalone.production.js",
       "application/javascript; charset=utf-8"},
  };
  for (const auto& e : entries) {
    std::ifstream in(dir / e.file, std::ios::binary);
    if (!in) {
      if (!missing_.empty()) missing_ += ", ";
      missing_ += e.file;
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    files_[e.url] = {std::make_shared<const std::string>(ss.str()), e.type};
  }
  if (auto it = files_.find("/docs"); it != files_.end()) files_["/docs/"] = it->second;
}

const StaticFile* StaticDocs::find(const std::string& path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

}  // namespace qc
