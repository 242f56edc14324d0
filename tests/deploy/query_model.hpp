#pragma once
// Checks AWS Query-protocol requests (CloudFormation, STS) against the official service model
// (/work/shared/reference/aws-models/*.json, botocore's JSON form): the Action is an operation of the
// model, Version is its apiVersion, every flattened parameter name (Parameters.member.1.ParameterKey)
// walks the operation's input shape to a scalar, scalar values fit their type and enum, list indexes
// run 1..N, and every required member of every structure sent is present.
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "net/url.hpp"

namespace ba::test {

using Form = std::vector<std::pair<std::string, std::string>>;

// application/x-www-form-urlencoded -> ordered pairs ('+' is a space).
inline Form parse_form(std::string_view body) {
  Form out;
  auto decode = [](std::string_view s) {
    std::string t(s);
    for (auto& ch : t) {
      if (ch == '+') ch = ' ';
    }
    return net::uri_decode(t);
  };
  while (!body.empty()) {
    auto amp = body.find('&');
    auto part = body.substr(0, amp);
    auto eq = part.find('=');
    if (!part.empty()) {
      out.emplace_back(decode(part.substr(0, eq)), eq == std::string_view::npos ? "" : decode(part.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

inline std::optional<std::string> form_value(const Form& form, std::string_view key) {
  for (const auto& [k, v] : form) {
    if (k == key) return v;
  }
  return std::nullopt;
}

// BA_SHARED_DIR, else BA_SOURCE_DIR/../shared.
inline std::filesystem::path shared_dir() {
  if (const char* d = std::getenv("BA_SHARED_DIR"); d && *d) return d;
  return std::filesystem::path(BA_SOURCE_DIR) / ".." / "shared";
}

class QueryModel {
 public:
  static std::optional<QueryModel> load(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream s;
    s << in.rdbuf();
    boost::system::error_code ec;
    auto v = boost::json::parse(s.str(), ec);
    if (ec || !v.is_object()) return std::nullopt;
    QueryModel m;
    m.model_ = std::move(v.as_object());
    return m;
  }

  std::string api_version() const { return str(meta(), "apiVersion"); }
  std::string signing_name() const {
    auto s = str(meta(), "signingName");
    return s.empty() ? str(meta(), "endpointPrefix") : s;
  }
  bool has_operation(std::string_view action) const {
    return model_.at("operations").as_object().contains(action);
  }

  // Problems with one request; empty when it conforms.
  std::vector<std::string> check(const Form& form) const {
    std::vector<std::string> problems;
    auto action = form_value(form, "Action");
    if (!action) return {"no Action"};
    if (!has_operation(*action)) return {"Action " + *action + " is not an operation of the model"};
    if (form_value(form, "Version") != api_version()) problems.push_back(*action + ": Version is not " + api_version());
    const auto& op = model_.at("operations").at(*action).as_object();
    std::string input;
    if (auto* in = op.if_contains("input")) input = str(in->as_object(), "shape");

    std::map<std::string, std::string> structures;  // prefix -> structure shape sent
    std::map<std::string, std::set<int>> indexes;   // list prefix -> indexes sent
    if (!input.empty()) structures[""] = input;
    std::set<std::string> keys;
    for (const auto& [key, value] : form) {
      if (key == "Action" || key == "Version") continue;
      if (!keys.insert(key).second) problems.push_back(*action + ": " + key + " sent twice");
      if (input.empty()) {
        problems.push_back(*action + ": takes no parameters, got " + key);
        continue;
      }
      walk(*action, key, value, input, structures, indexes, problems);
    }
    for (const auto& [prefix, shape_name] : structures) {
      const auto& shape = shapes().at(shape_name).as_object();
      auto* req = shape.if_contains("required");
      if (!req) continue;
      for (const auto& r : req->as_array()) {
        const std::string name = prefix + std::string(r.as_string());
        bool present = std::ranges::any_of(keys, [&](const std::string& k) {
          return k == name || k.starts_with(name + ".");
        });
        if (!present) problems.push_back(*action + ": required " + name + " is missing");
      }
    }
    for (const auto& [prefix, ids] : indexes) {
      int expect = 1;
      for (int i : ids) {
        if (i != expect++) {
          problems.push_back(*action + ": " + prefix + " indexes do not run 1..N");
          break;
        }
      }
    }
    return problems;
  }

 private:
  const boost::json::object& meta() const { return model_.at("metadata").as_object(); }
  const boost::json::object& shapes() const { return model_.at("shapes").as_object(); }
  static std::string str(const boost::json::object& o, std::string_view k) {
    auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }

  void walk(const std::string& action, const std::string& key, const std::string& value, std::string shape_name,
            std::map<std::string, std::string>& structures, std::map<std::string, std::set<int>>& indexes,
            std::vector<std::string>& problems) const {
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    std::string prefix;
    std::size_t i = 0;
    auto bad = [&](const std::string& why) { problems.push_back(action + ": " + key + ": " + why); };
    while (true) {
      const auto& shape = shapes().at(shape_name).as_object();
      const std::string type = str(shape, "type");
      if (type == "structure") {
        if (i >= parts.size()) return bad("ends at structure " + shape_name);
        structures.emplace(prefix, shape_name);
        const auto& members = shape.at("members").as_object();
        auto* m = members.if_contains(parts[i]);
        if (!m) return bad("'" + parts[i] + "' is not a member of " + shape_name);
        prefix += parts[i] + ".";
        shape_name = str(m->as_object(), "shape");
        ++i;
      } else if (type == "list") {
        const auto& member = shape.at("member").as_object();
        const bool flattened = shape.contains("flattened") && shape.at("flattened").as_bool();
        if (!flattened) {
          std::string loc = str(member, "locationName");
          if (loc.empty()) loc = "member";
          if (i >= parts.size() || parts[i] != loc) return bad("list " + shape_name + " needs '." + loc + ".N'");
          ++i;
        }
        if (i >= parts.size()) return bad("no index in list " + shape_name);
        int index = 0;
        try {
          std::size_t used = 0;
          index = std::stoi(parts[i], &used);
          if (used != parts[i].size() || index < 1) throw std::invalid_argument("index");
        } catch (const std::exception&) {
          return bad("bad list index '" + parts[i] + "'");
        }
        std::string list_prefix = prefix;
        list_prefix.pop_back();
        indexes[list_prefix].insert(index);
        for (std::size_t j = flattened ? i : i - 1; j <= i; ++j) prefix += parts[j] + ".";
        shape_name = str(member, "shape");
        ++i;
      } else if (type == "map") {
        if (i + 2 >= parts.size() || parts[i] != "entry") return bad("map " + shape_name + " needs .entry.N.key|value");
        const std::string& kv = parts[i + 2];
        if (kv != "key" && kv != "value") return bad("map entry part must be key or value");
        shape_name = str(shape.at(kv).as_object(), "shape");
        prefix += parts[i] + "." + parts[i + 1] + "." + kv + ".";
        i += 3;
      } else {
        if (i != parts.size()) return bad("scalar " + shape_name + " has sub-keys");
        check_scalar(shape, type, value, bad);
        return;
      }
    }
  }

  template <class Bad>
  static void check_scalar(const boost::json::object& shape, const std::string& type, const std::string& value,
                           Bad&& bad) {
    if (type == "boolean") {
      if (value != "true" && value != "false") bad("boolean must be true or false, got '" + value + "'");
    } else if (type == "integer" || type == "long") {
      if (value.empty() || value.find_first_not_of("-0123456789") != std::string::npos) bad("not an integer");
    } else if (type == "string") {
      if (auto* e = shape.if_contains("enum")) {
        bool ok = std::ranges::any_of(e->as_array(), [&](const auto& v) { return v.as_string() == value; });
        if (!ok) bad("'" + value + "' is not in the enum");
      }
      if (auto* pat = shape.if_contains("pattern"); pat && pat->is_string()) {
        try {  // botocore patterns, matched against the whole value
          if (!std::regex_match(value, std::regex(std::string(pat->as_string())))) bad("'" + value + "' does not match the pattern");
        } catch (const std::regex_error&) {
          // a pattern std::regex cannot compile (none in the operations we send): not checked
        }
      }
      if (auto* mn = shape.if_contains("min"); mn && static_cast<std::int64_t>(value.size()) < mn->to_number<std::int64_t>()) {
        bad("shorter than min");
      }
      if (auto* mx = shape.if_contains("max"); mx && static_cast<std::int64_t>(value.size()) > mx->to_number<std::int64_t>()) {
        bad("longer than max");
      }
    }
  }

  boost::json::object model_;
};

}  // namespace ba::test
