#include "json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "iroko/errors.hpp"

namespace iroko::json {
namespace {

class Parser {
 public:
  Parser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the document");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    throw ConfigError("cannot parse " + where_ + ": " + what + " at line " + std::to_string(line) +
                      " column " + std::to_string(col));
  }

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool take(const char* word) {
    std::size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) == 0) { pos_ += n; return true; }
    return false;
  }

  Value value(int depth) {
    if (depth > 64) fail("nesting deeper than 64");
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end of input");
    std::size_t start = pos_;
    Value v;
    char c = s_[pos_];
    if (c == '{') {
      v.kind = Value::Kind::Object;
      ++pos_;
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; }
      else {
        while (true) {
          skip_space();
          if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key");
          std::string key = string();
          skip_space();
          if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':'");
          ++pos_;
          v.members.emplace_back(std::move(key), value(depth + 1));
          skip_space();
          if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
          if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; break; }
          fail("expected ',' or '}'");
        }
      }
    } else if (c == '[') {
      v.kind = Value::Kind::Array;
      ++pos_;
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; }
      else {
        while (true) {
          v.items.push_back(value(depth + 1));
          skip_space();
          if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
          if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; break; }
          fail("expected ',' or ']'");
        }
      }
    } else if (c == '"') {
      v.kind = Value::Kind::String;
      v.text = string();
      return v;
    } else if (take("true")) {
      v.kind = Value::Kind::Bool;
      v.boolean = true;
    } else if (take("false")) {
      v.kind = Value::Kind::Bool;
    } else if (take("null")) {
      v.kind = Value::Kind::Null;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Value::Kind::Number;
      std::size_t end = pos_ + (c == '-');
      bool integral = true;
      while (end < s_.size() && std::string("0123456789.eE+-").find(s_[end]) != std::string::npos) {
        if (s_[end] == '.' || s_[end] == 'e' || s_[end] == 'E') integral = false;
        ++end;
      }
      std::string raw = s_.substr(pos_, end - pos_);
      char* stop = nullptr;
      v.number = std::strtod(raw.c_str(), &stop);
      if (raw.empty() || stop != raw.c_str() + raw.size()) fail("bad number '" + raw + "'");
      v.integral = integral;
      pos_ = end;
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    v.text = s_.substr(start, pos_ - start);
    return v;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > s_.size()) fail("short \\u escape");
          unsigned code = static_cast<unsigned>(std::strtoul(s_.substr(pos_, 4).c_str(), nullptr, 16));
          pos_ += 4;
          if (code < 0x80) { out += static_cast<char>(code); }
          else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: fail(std::string("bad escape \\") + e);
      }
    }
  }

  const std::string& s_;
  const std::string& where_;
  std::size_t pos_ = 0;
};

}  // namespace

const char* Value::kind_name() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Number: return "a number";
    case Kind::String: return "a string";
    case Kind::Array: return "a list";
    case Kind::Object: return "a mapping";
  }
  return "?";
}

Value parse(const std::string& text, const std::string& where) { return Parser(text, where).document(); }

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c == '\n') out += "\\n";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

}  // namespace iroko::json
