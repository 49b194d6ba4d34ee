// A small JSON reader for client config files (no dependency beyond the standard library).
// Every value keeps its source text, so that `params` is passed to the server verbatim.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace iroko::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0.0;
  bool integral = false;  // a number written without fraction or exponent
  std::string text;       // String: the decoded string; otherwise the raw source text
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;

  const char* kind_name() const;
};

// Parse `text`; throws ConfigError naming `where` and the position of a syntax error.
Value parse(const std::string& text, const std::string& where);

// `s` as a JSON string literal.
std::string quote(const std::string& s);
// `x` with round-trip precision (17 significant digits), "NaN"/"Infinity" as Python writes them.
std::string number(double x);

}  // namespace iroko::json
