#include "util/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace ba::metrics {

void Counter::inc(double v) {
  if (!(v > 0)) return;
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Gauge::inc(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) bounds_.pop_back();
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v: le is inclusive
  std::size_t idx = static_cast<std::size_t>(it - bounds_.begin());
  std::lock_guard lock(mu_);
  ++counts_[idx];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  std::lock_guard lock(mu_);
  std::uint64_t acc = 0;
  for (auto c : counts_) {
    acc += c;
    s.cumulative.push_back(acc);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> default_seconds_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

template <class M>
M& Family<M>::labels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size())
    throw std::invalid_argument("metric " + name_ + ": expected " + std::to_string(label_names_.size()) +
                                " label values, got " + std::to_string(values.size()));
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    std::unique_ptr<M> child;
    if constexpr (std::is_same_v<M, Histogram>)
      child = std::make_unique<M>(buckets_);
    else
      child = std::make_unique<M>();
    it = children_.emplace(values, std::move(child)).first;
  }
  return *it->second;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

namespace {

void check_name(const std::string& name) {
  auto ok_first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
  auto ok = [&](char c) { return ok_first(c) || (c >= '0' && c <= '9'); };
  if (name.empty() || !ok_first(name[0]) || !std::all_of(name.begin(), name.end(), ok))
    throw std::invalid_argument("invalid metric name: " + name);
}

void check_labels(const std::vector<std::string>& names) {
  for (const auto& n : names) {
    bool valid = !n.empty() && !(n[0] >= '0' && n[0] <= '9') && n.rfind("__", 0) != 0 && n != "le" &&
                 std::all_of(n.begin(), n.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
                 });
    if (!valid) throw std::invalid_argument("invalid label name: " + n);
  }
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

// {a="x",b="y"} plus an optional extra pair (le) last; empty string when there are no labels.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

void header(std::string& out, const std::string& name, const std::string& help, Type t) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += escape_help(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type_name(t);
  out += '\n';
}

template <class M>
void render_simple(std::string& out, const Family<M>& f) {
  f.for_each([&](const std::vector<std::string>& values, const M& m) {
    out += f.name();
    out += label_set(f.label_names(), values);
    out += ' ';
    out += format_value(m.value());
    out += '\n';
  });
}

void render_histogram(std::string& out, const Family<Histogram>& f) {
  f.for_each([&](const std::vector<std::string>& values, const Histogram& h) {
    auto s = h.snapshot();
    for (std::size_t i = 0; i <= s.upper_bounds.size(); ++i) {
      std::string le = i < s.upper_bounds.size() ? format_value(s.upper_bounds[i]) : "+Inf";
      out += f.name();
      out += "_bucket";
      out += label_set(f.label_names(), values, "le", le);
      out += ' ';
      out += std::to_string(s.cumulative[i]);
      out += '\n';
    }
    std::string ls = label_set(f.label_names(), values);
    out += f.name() + "_sum" + ls + ' ' + format_value(s.sum) + '\n';
    out += f.name() + "_count" + ls + ' ' + std::to_string(s.count) + '\n';
  });
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) return "NaN";
  return std::string(buf, p);
}

std::string escape_label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Registry::Entry* Registry::find(std::string_view name) {
  for (auto& e : entries_) {
    const std::string& n = e.type == Type::counter ? e.counter->name()
                           : e.type == Type::gauge ? e.gauge->name()
                                                   : e.histogram->name();
    if (n == name) return &e;
  }
  return nullptr;
}

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names) {
  check_name(name);
  check_labels(label_names);
  std::lock_guard lock(mu_);
  if (auto* e = find(name)) {
    if (e->type != Type::counter || e->counter->label_names() != label_names)
      throw std::invalid_argument("metric " + name + " already registered differently");
    return *e->counter;
  }
  Entry e{.type = Type::counter};
  e.counter = std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(label_names));
  entries_.push_back(std::move(e));
  return *entries_.back().counter;
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  check_name(name);
  check_labels(label_names);
  std::lock_guard lock(mu_);
  if (auto* e = find(name)) {
    if (e->type != Type::gauge || e->gauge->label_names() != label_names)
      throw std::invalid_argument("metric " + name + " already registered differently");
    return *e->gauge;
  }
  Entry e{.type = Type::gauge};
  e.gauge = std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(label_names));
  entries_.push_back(std::move(e));
  return *entries_.back().gauge;
}

Family<Histogram>& Registry::histogram(std::string name, std::string help, std::vector<std::string> label_names,
                                       std::vector<double> buckets) {
  check_name(name);
  check_labels(label_names);
  std::sort(buckets.begin(), buckets.end());
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0) buckets.pop_back();
  std::lock_guard lock(mu_);
  if (auto* e = find(name)) {
    if (e->type != Type::histogram || e->histogram->label_names() != label_names || e->histogram->buckets() != buckets)
      throw std::invalid_argument("metric " + name + " already registered differently");
    return *e->histogram;
  }
  Entry e{.type = Type::histogram};
  e.histogram = std::make_unique<Family<Histogram>>(std::move(name), std::move(help), std::move(label_names),
                                                    std::move(buckets));
  entries_.push_back(std::move(e));
  return *entries_.back().histogram;
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& e : entries_) {
    switch (e.type) {
      case Type::counter:
        header(out, e.counter->name(), e.counter->help(), e.type);
        render_simple(out, *e.counter);
        break;
      case Type::gauge:
        header(out, e.gauge->name(), e.gauge->help(), e.type);
        render_simple(out, *e.gauge);
        break;
      case Type::histogram:
        header(out, e.histogram->name(), e.histogram->help(), e.type);
        render_histogram(out, *e.histogram);
        break;
    }
  }
  return out;
}

}  // namespace ba::metrics
