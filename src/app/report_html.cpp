#include "app/report_html.h"

#include <stdexcept>

namespace qc {
namespace report_assets {
// Generated at build time from web/ and node_modules (cmake/embed_files.cmake).
std::string report_html();
std::string dashboard_css();
std::string format_js();
std::string performance_js();
std::string report_js();
std::string charts_js();
}  // namespace report_assets

namespace {

// Text inside <script> ends at the first "</script" whatever the quoting:
// "</" becomes "<\/", which means the same in JavaScript strings, regular
// expressions and comments.
std::string script_text(std::string_view js) {
  std::string out;
  out.reserve(js.size());
  for (std::size_t i = 0; i < js.size(); ++i) {
    out += js[i];
    if (js[i] == '<' && i + 1 < js.size() && js[i + 1] == '/') out += '\\';
  }
  return out;
}

// JSON inside <script type="application/json">: '<' only occurs in strings,
// where \u003c means the same character.
std::string json_text(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
  return out;
}

void replace_once(std::string& page, std::string_view marker, const std::string& with) {
  auto at = page.find(marker);
  if (at == std::string::npos)
    throw std::logic_error("report template lacks " + std::string(marker));
  page.replace(at, marker.size(), with);
}

}  // namespace

std::string render_report_html(std::string_view stats_json, std::string_view meta_json) {
  std::string page = report_assets::report_html();
  replace_once(page, "<!--QC:STYLE-->", "<style>\n" + report_assets::dashboard_css() + "</style>");
  std::string scripts;
  for (const auto& js :
       {report_assets::charts_js(), report_assets::format_js(), report_assets::performance_js()})
    scripts += "<script>\n" + script_text(js) + "\n</script>\n";
  replace_once(page, "<!--QC:DATA-->",
               "<script type=\"application/json\" id=\"qc-stats\">" + json_text(stats_json) +
                   "</script>\n<script type=\"application/json\" id=\"qc-meta\">" +
                   json_text(meta_json) + "</script>");
  replace_once(page, "<!--QC:SCRIPTS-->",
               scripts + "<script>\n" + script_text(report_assets::report_js()) + "\n</script>");
  return page;
}

}  // namespace qc
