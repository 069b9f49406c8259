// The interactive docs (GET /docs), the OpenAPI document and the dashboard
// (GET /, /web/...), loaded once from the docs directory built from src/http,
// web/ and the swagger-ui-dist and lightweight-charts npm packages. Nothing
// is fetched from a CDN.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace qc {

struct StaticFile {
  std::shared_ptr<const std::string> body;
  std::string content_type;
};

class StaticDocs {
 public:
  // Loads what exists in `dir`; missing files are reported by missing().
  explicit StaticDocs(const std::filesystem::path& dir);
  // "/openapi.json", "/docs", "/docs/swagger-ui.css", "/", "/web/dashboard.js", ...
  const StaticFile* find(const std::string& path) const;
  std::string missing() const { return missing_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::map<std::string, StaticFile> files_;
  std::string missing_;
};

}  // namespace qc
