// quantcrunch: `serve` (default) and `backtest` subcommands.
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "app/backtest.h"
#include "app/config.h"
#include "app/serve.h"

extern char** environ;

namespace {

// An error message as one line: a value quoted in it (from a variable or a
// flag) may hold a newline or another control character.
std::string one_line(std::string_view message) {
  std::string out;
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (u < 0x20 || u == 0x7f)
      out += '?';
    else
      out += c;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string command = "serve";
  if (!args.empty() && args[0].rfind("--", 0) != 0) {
    command = args[0];
    args.erase(args.begin());
  }
  auto wants_help = [&] {
    for (const auto& a : args)
      if (a == "--help" || a == "-h") return true;
    return false;
  };
  try {
    if (command == "serve") {
      if (wants_help()) {
        std::cout << qc::serve_usage();
        return 0;
      }
      auto vars = qc::collect_variables(environ, ".env");
      return qc::run_serve(qc::parse_serve_config(vars, args));
    }
    if (command == "backtest") {
      if (wants_help()) {
        std::cout << qc::backtest_usage();
        return 0;
      }
      auto config = qc::parse_backtest_config(args);
      if (config.out.empty()) {
        qc::run_backtest(config, std::cout, std::cerr);
      } else {
        std::ofstream out(config.out);
        if (!out) throw std::runtime_error("cannot write " + config.out.string());
        qc::run_backtest(config, out, std::cerr);
      }
      return 0;
    }
    if (command == "help" || command == "-h") {
      std::cout << "usage: quantcrunch [serve|backtest] [options]   (--help on each)\n";
      return 0;
    }
    std::cerr << "quantcrunch: error: unknown command '" << one_line(command)
              << "' (expected serve or backtest)\n";
    return 2;
  } catch (const qc::ConfigError& e) {
    std::cerr << "quantcrunch: error: " << one_line(e.what()) << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "quantcrunch: error: " << one_line(e.what()) << "\n";
    return 1;
  }
}
