// The backtest report page (backtest --report): everything inlined, and no
// data can end a <script> element early.
#include "app/report_html.h"

#include <gtest/gtest.h>

#include <string>

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ReportHtml, InlinesEverythingAndLoadsNothing) {
  auto page =
      qc::render_report_html(R"({"closed":{"count":0}})", R"({"recommendations":"r.jsonl"})");
  EXPECT_EQ(page.find("<!--QC:"), std::string::npos) << "a template marker was left";
  EXPECT_EQ(page.find(" src="), std::string::npos);
  EXPECT_EQ(page.find("<link rel=\"stylesheet\""), std::string::npos);
  EXPECT_NE(page.find("Lightweight Charts"), std::string::npos);
  EXPECT_NE(page.find("QC.renderPerformance = function"), std::string::npos);
  EXPECT_NE(
      page.find(R"(<script type="application/json" id="qc-stats">{"closed":{"count":0}}</script>)"),
      std::string::npos);
  EXPECT_NE(
      page.find(
          R"(<script type="application/json" id="qc-meta">{"recommendations":"r.jsonl"}</script>)"),
      std::string::npos);
  EXPECT_NE(page.find("<style>"), std::string::npos);
}

TEST(ReportHtml, DataCannotCloseItsScriptElement) {
  auto page = qc::render_report_html(R"({"note":"</script><script>alert(1)</script>"})", "{}");
  // Only the page's own script elements close: 4 scripts (library, format,
  // performance, report) and 2 JSON blocks.
  EXPECT_EQ(count(page, "</script>"), 6u);
  EXPECT_NE(page.find(R"({"note":"\u003c/script>\u003cscript>alert(1)\u003c/script>"})"),
            std::string::npos);
}

}  // namespace
