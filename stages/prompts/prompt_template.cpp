#include "prompts/prompt_template.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "base/file_io.h"
#include "prompts/csv_table.h"

namespace tessera::stages {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string render(const PromptTemplate& t, const PromptParts& parts, size_t summary_clauses) {
  std::string summary;
  for (size_t i = 0; i < summary_clauses && i < parts.summary.size(); ++i) {
    summary += (i ? ", " : "") + parts.summary[i];
  }
  std::string out;
  for (const auto& segment : t.segments()) {
    std::string value;
    if (segment.slot == "tumor") value = parts.tumor;
    if (segment.slot == "til") value = parts.til;
    if (segment.slot == "summary") value = summary;
    if (!segment.slot.empty() && value.empty()) continue;
    const std::string piece = trim(segment.before + value + segment.after);
    if (piece.empty()) continue;
    out += (out.empty() ? "" : "; ") + piece;
  }
  return out;
}

}  // namespace

PromptTemplate PromptTemplate::parse(const std::string& text, const std::string& origin) {
  PromptTemplate t;
  t.text_ = trim(text);
  t.name_ = origin;
  size_t start = 0;
  while (start <= t.text_.size()) {
    size_t end = t.text_.find(';', start);
    if (end == std::string::npos) end = t.text_.size();
    const std::string segment = t.text_.substr(start, end - start);
    Segment s;
    const size_t open = segment.find('{');
    if (open == std::string::npos) {
      s.before = segment;
    } else {
      const size_t close = segment.find('}', open);
      if (close == std::string::npos) throw Error(origin + ": unclosed '{' in template segment '" + segment + "'");
      s.before = segment.substr(0, open);
      s.slot = segment.substr(open + 1, close - open - 1);
      s.after = segment.substr(close + 1);
      if (s.slot != "tumor" && s.slot != "til" && s.slot != "summary") {
        throw Error(origin + ": unknown slot {" + s.slot + "}; templates may use {tumor}, {til} and {summary}");
      }
      if (s.after.find('{') != std::string::npos) {
        throw Error(origin + ": segment '" + segment + "' has two slots; separate them with ';'");
      }
    }
    t.segments_.push_back(std::move(s));
    start = end + 1;
  }
  return t;
}

PromptTemplate PromptTemplate::load(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  fs::path path = name_or_path;
  if (!fs::exists(path)) path = fs::path(TESSERA_SCHEMA_DIR) / "templates" / (name_or_path + ".txt");
  if (!fs::exists(path)) {
    throw Error("prompt template '" + name_or_path + "' is neither a file nor one of " +
                (fs::path(TESSERA_SCHEMA_DIR) / "templates").string());
  }
  auto t = parse(read_file(path.string()), path.string());
  t.name_ = fs::exists(name_or_path) ? path.string() : name_or_path;
  return t;
}

std::vector<std::string> compose_summary(const std::vector<ReportField>& fields) {
  const auto get = [&](const char* name) {
    const auto f = find_field(fields, name);
    return f ? f->value : std::string();
  };
  std::vector<std::string> clauses;
  if (const auto type = get("histologic_type"); !type.empty()) clauses.push_back(type);
  if (const auto grade = get("grade"); !grade.empty()) clauses.push_back("grade " + grade);
  std::string receptors;
  for (const auto& [name, label] : {std::pair{"er", "ER"}, std::pair{"pr", "PR"}, std::pair{"her2", "HER2"}}) {
    const auto v = get(name);
    if (v.empty()) continue;
    receptors += (receptors.empty() ? "" : " ") + std::string(label) +
                 (v == "positive"   ? "+"
                  : v == "negative" ? "-"
                                    : " equivocal");
  }
  if (!receptors.empty()) clauses.push_back(receptors);
  std::string stage;
  // A stage after neoadjuvant treatment keeps its y: "ypT2 ypN1".
  const auto staged = [&](const char* name) {
    const auto f = find_field(fields, name);
    return f ? (f->post_treatment ? "yp" : "p") + f->value : std::string();
  };
  if (const auto pt = staged("pt"); !pt.empty()) stage = pt;
  if (const auto pn = staged("pn"); !pn.empty()) stage += (stage.empty() ? "" : " ") + pn;
  if (!stage.empty()) clauses.push_back(stage);
  if (const auto size = get("tumor_size_cm"); !size.empty()) clauses.push_back(size + " cm");
  if (const auto lvi = get("lvi"); !lvi.empty()) clauses.push_back("lymphovascular invasion " + lvi);
  if (const auto margins = get("margins"); !margins.empty()) clauses.push_back("margins " + margins);
  const auto positive = get("nodes_positive"), examined = get("nodes_examined");
  if (!positive.empty() && !examined.empty() && examined != "0") {
    clauses.push_back(positive + "/" + examined + " nodes positive");
  }
  return clauses;
}

std::vector<std::string> split_summary(std::string_view summary) {
  std::vector<std::string> clauses;
  size_t start = 0;
  while (start <= summary.size()) {
    size_t end = summary.find_first_of(",;", start);
    if (end == std::string_view::npos) end = summary.size();
    std::string clause = trim(summary.substr(start, end - start));
    while (!clause.empty() && clause.back() == '.') clause.pop_back();
    if (!clause.empty()) clauses.push_back(std::move(clause));
    start = end + 1;
  }
  return clauses;
}

BudgetedPrompt budget_prompt(const PromptTemplate& prompt_template, const PromptParts& parts, size_t budget,
                             const TokenCounter& count_tokens) {
  budget = std::min(budget, kClipContext);
  PromptParts current = parts;
  size_t clauses = parts.summary.size();
  BudgetedPrompt result;
  for (;;) {
    result.text = render(prompt_template, current, clauses);
    result.tokens = count_tokens(result.text);
    if (result.tokens <= budget || result.text.empty()) break;
    if (clauses > 1) {
      result.dropped.push_back("summary: " + current.summary[--clauses]);
    } else if (!current.til.empty()) {
      result.dropped.push_back("til");
      current.til.clear();
    } else if (!current.tumor.empty()) {
      result.dropped.push_back("tumor");
      current.tumor.clear();
    } else if (clauses == 1) {
      result.dropped.push_back("summary: " + current.summary[--clauses]);
    } else {
      // Only literal words remain and they alone exceed the budget.
      result.dropped.push_back("template: " + result.text);
      result.text.clear();
      result.tokens = count_tokens(result.text);
      break;
    }
  }
  return result;
}

}  // namespace tessera::stages
