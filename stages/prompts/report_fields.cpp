#include "prompts/report_fields.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "base/ascii_case.h"

namespace tessera::stages {
namespace {

struct Match {
  size_t begin = 0, end = 0;
  std::vector<std::string> groups;
  size_t groups_end = 0;  // end of the last group that matched
};

// All non-overlapping matches of `pattern` (case-insensitive) with their groups.
std::vector<Match> find_all(std::string_view text, const RE2& pattern) {
  std::vector<Match> out;
  const int n = pattern.NumberOfCapturingGroups();
  std::vector<re2::StringPiece> groups(size_t(n) + 1);
  size_t pos = 0;
  while (pos <= text.size() && pattern.Match(re2::StringPiece(text.data(), text.size()), pos, text.size(),
                                             RE2::UNANCHORED, groups.data(), n + 1)) {
    Match m;
    m.begin = size_t(groups[0].data() - text.data());
    m.end = m.begin + groups[0].size();
    m.groups_end = m.begin;
    for (int g = 1; g <= n; ++g) {
      const auto& group = groups[size_t(g)];
      m.groups.emplace_back(group.data() ? std::string(group) : "");
      if (group.data()) m.groups_end = std::max(m.groups_end, size_t(group.data() - text.data()) + group.size());
    }
    pos = m.end > m.begin ? m.end : m.end + 1;
    out.push_back(std::move(m));
  }
  return out;
}

RE2::Options case_insensitive() {
  RE2::Options o;
  o.set_case_sensitive(false);
  o.set_max_mem(int64_t{32} << 20);  // the negative-node pattern needs a larger DFA than the default 8 MiB
  o.set_log_errors(false);
  return o;
}

#define TESSERA_PATTERN(name, regex)                \
  const RE2& name() {                               \
    static const RE2 re(regex, case_insensitive()); \
    return re;                                      \
  }

// A breast report, whose size and node counts may stage it by AJCC's breast
// rules: it names the breast or the operation, or a type seen only in breast.
TESSERA_PATTERN(
    breast_report,
    R"(\b(?:breast|mastectomy|lumpectomy|(?:invasive|infiltrating)\s+(?:pleomorphic\s+)?lobular\s+carcinoma|(?:invasive|infiltrating)\s+ductal\s+carcinoma)\b)")

// Histologic types, most specific first; "in situ" is excluded by requiring an
// invasive qualifier or a type that is only ever invasive.
TESSERA_PATTERN(
    mixed_type,
    R"(\b(?:invasive|infiltrating)?\s*(?:mixed\s+)?(?:ductal\s+and\s+lobular|lobular\s+and\s+ductal|mixed\s+ductal\s*/\s*lobular)\s+carcinoma)")
TESSERA_PATTERN(lobular_type, R"(\b(?:invasive|infiltrating)\s+(?:pleomorphic\s+)?lobular\s+(?:carcinoma|ca\b))")
TESSERA_PATTERN(
    ductal_type,
    R"(\b(?:invasive|infiltrating)\s+(?:mammary\s+|breast\s+)?(?:ductal\s+)?(?:carcinoma|adenocarcinoma)(?:\s*,?\s*(?:of\s+)?(?:no\s+special\s+type|nst|nos))?)")
TESSERA_PATTERN(
    special_type,
    R"(\b(mucinous|medullary|metaplastic|tubular|micropapillary|papillary|apocrine|cribriform)\s+carcinoma)")

TESSERA_PATTERN(
    nottingham_grade,
    R"(\b(?:nottingham|histologic|overall|combined|modified\s+bloom[-\s]richardson|sbr|elston)[^.]{0,30}?grade\s*[:=]?\s*(iii|ii|i|[1-3])\b)")
TESSERA_PATTERN(plain_grade, R"(\b(?:grade|nhg|g)\s*[:=]?\s*(iii|ii|i|[1-3])\b(?:\s*(?:of|/)\s*(?:iii|3))?)")
TESSERA_PATTERN(grade_score,
                R"(\b(?:total|combined|nottingham|overall)?\s*score\s*[:=]?\s*([3-9])\s*(?:out\s+)?(?:of|/)\s*9)")

TESSERA_PATTERN(
    er_status,
    R"(\b(?:estrogen\s+receptors?|oestrogen\s+receptors?|\ber\b)\s*(?:\(\s*er\s*\))?\s*[:\-]?\s*(?:status\s*[:\-]?\s*)?(positive|negative|\+|-|pos\b|neg\b))")
TESSERA_PATTERN(
    pr_status,
    R"(\b(?:progesterone\s+receptors?|\bpr\b|\bpgr\b)\s*(?:\(\s*pr\s*\))?\s*[:\-]?\s*(?:status\s*[:\-]?\s*)?(positive|negative|\+|-|pos\b|neg\b))")
TESSERA_PATTERN(
    her2_status,
    R"(\bher[-\s]?2(?:\s*/?\s*neu)?\b[^.;]{0,40}?(positive|negative|equivocal|amplified|not\s+amplified|non-?amplified|3\+|2\+|1\+|0\b|\+|-))")

// Sizes count only when the clause is about the tumour (a mastectomy specimen
// or a nodal deposit also "measures").
TESSERA_PATTERN(
    size_with_context,
    R"((?:tumou?r\s+size|size\s+of\s+(?:the\s+)?(?:invasive\s+)?(?:tumou?r|carcinoma)|(?:invasive\s+)?(?:tumou?r|carcinoma|mass|lesion|neoplasm)\b[^.;:]{0,30}?(?:measur(?:es|ing|ed)|size|dimension))[^.;]{0,40}?(\d+(?:\.\d+)?)\s*(?:x\s*(\d+(?:\.\d+)?)\s*)?(?:x\s*(\d+(?:\.\d+)?)\s*)?(cm|mm)\b)")
// Dimensions written beside the tumour's noun: "forming a mass (1.9 x 1.0 x
// 0.9 cm)", "mass 2.8 x 1.5 x 1.8 cm", "a 2.8 x 2.6 x 2 cm mass", "9.0 BY 8.5
// BY 4.0 CM". Only tumour nouns qualify: a specimen's dimensions never do.
#define TESSERA_DIMENSIONS \
  R"((\d+(?:\.\d+)?)(?:\s*(?:x|by)\s*(\d+(?:\.\d+)?))?(?:\s*(?:x|by)\s*(\d+(?:\.\d+)?))?\s*(cm|mm)\b)"
TESSERA_PATTERN(
    noun_then_dimensions,
    R"(\b(?:tumou?r|mass|carcinoma|lesion|neoplasm)\s*(?:is\s+|measures\s+|measuring\s+|of\s+)?[:(]?\s*)" TESSERA_DIMENSIONS)
TESSERA_PATTERN(dimensions_then_noun,
                TESSERA_DIMENSIONS R"(\s*\)?\s+(?:[a-z\-]+\s+){0,2}?(?:mass|tumou?r|lesion|nodule)\b)")
#undef TESSERA_DIMENSIONS
// "7 cm from tumor" is a distance, not a size.
TESSERA_PATTERN(distance_word, R"(\b(?:from|to|of|away|beyond)\b)")
// "Tumour Size (cm). 2.7000000000000002": a form's unit before its value.
TESSERA_PATTERN(size_unit_first, R"(\btumou?r\s+size\s*\((cm|mm)\)\s*[.:]?\s*(\d+(?:\.\d+)?))")
TESSERA_PATTERN(size_before_dimension, R"((\d+(?:\.\d+)?)\s*(cm|mm)\s+in\s+(?:greatest|maximum|largest)\s+dimension)")

TESSERA_PATTERN(node_ratio, R"(\(\s*(\d{1,2})\s*/\s*(\d{1,2})\s*\))")
TESSERA_PATTERN(
    node_of_words,
    R"(\b(\d{1,2}|zero|no|none|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)\s+(?:\(\d{1,2}\)\s+)?\(?(?:of|out\s+of)\s+(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)\)?\s+(?:\(\d{1,2}\)\s+)?(?:axillary\s+|sentinel\s+|regional\s+)*lymph\s+nodes?)")

TESSERA_PATTERN(
    lvi_status,
    R"(\b(?:lympho-?vascular|angio-?lymphatic|lymph-?vascular|vascular|lymphatic|venous\s*/\s*lymphatic|endolymphatic)\s+(?:space\s+)?invasion\s*(?:\(lvi\))?\s*[:\-]?\s*(?:is\s+)?(not\s+identified|not\s+seen|absent|negative|no\b|none|present|identified|positive|seen|extensive|focal))")
TESSERA_PATTERN(
    lvi_none,
    R"(\bno\s+(?:evidence\s+of\s+)?(?:definite\s+)?(?:lympho-?vascular|angio-?lymphatic|lymph-?vascular|vascular|lymphatic)\s+(?:space\s+)?invasion)")

TESSERA_PATTERN(margin_status,
                R"(\bmargins?\b[^.;]{0,40}?\b(negative|free|uninvolved|clear|not\s+involved|positive|involved))")

// Stated AJCC categories. Inside a stage token OCR writes 1 as l, I or | and
// 0 as O; "p" may be detached ("p T2"); y (after neoadjuvant treatment) and r
// (recurrence) prefix the token, and m (several tumours, "mpT2a") may lead
// it; "AJCCpT2" runs the token into its label.
// Every pT and pN pattern captures (prefix, category, subcategory).
#define TESSERA_T_CODE R"((is|[0-4]|x|[li|]|o)\s?(?:(mi|[a-d])\d?)?)"
// Without its "p" a T is never read from O: "to" is a word, not T0.
#define TESSERA_BARE_T_CODE R"((is|[0-4]|x|[li|])\s?(?:(mi|[a-d])\d?)?)"
#define TESSERA_N_CODE R"(([0-3]|o|x|[li|])\s?(mi|[a-c])?)"
TESSERA_PATTERN(stated_pt, R"((?:\b|ajcc)m?(y|r)?p\s?t\s?)" TESSERA_T_CODE R"((?:\b|\(|[ng\s,.;]))")
TESSERA_PATTERN(stated_pn, R"((?:\b|ajcc)(y|r)?p\s?n\s?)" TESSERA_N_CODE R"((?:\b|\(|[m\s,.;]))")
TESSERA_PATTERN(stated_pm, R"(\b(?:y|r)?p\s?m\s?([01]|x)\b)")
// "pT2N3aL0V0R0", "pT3 N2a M#": N stated right after pT, without its "p".
TESSERA_PATTERN(compound_pn,
                R"(\b(y|r)?p\s?t\s?(?:is|[0-4]|[li|])\s?(?:mi|[a-d])?\s?(?:\(\w+\))?\s?p?n\s?)" TESSERA_N_CODE)
// Stages without their "p" where the sentence says they are stages:
// "Pathologic stage: T1 N1 MX", "TNM: T3a NX", "AJCC T2 N0".
TESSERA_PATTERN(staged_t,
                R"(\b(?:stag(?:e|ing)|tnm|ajcc|uicc|classification)\b[^.]{0,40}?\b(y|r)?p?t\s?)" TESSERA_BARE_T_CODE
                R"((?:\b|[n\s,.;]))")
TESSERA_PATTERN(
    staged_n,
    R"(\b(?:stag(?:e|ing)|tnm|ajcc|uicc|classification)\b[^.]{0,40}?\bp?t\s?(?:is|[0-4]|x|[li|])\s?(?:mi|[a-d])?\d?\s?(?:\(\w+\))?[\s,.]*(y|r)?p?n\s?)" TESSERA_N_CODE
    R"((?:\b|[m\s,.;(]))")
// A T category followed by an N category is a stage wherever it stands:
// "T3 NO MX", "T1b, N1".
TESSERA_PATTERN(t_before_n, R"(\b(y|r)?p?t\s?)" TESSERA_BARE_T_CODE
                            R"(\d?[\s,]*(?:y|r)?p?n\s?(?:[0-3]|o|x|[li|])\s?(?:mi|[a-c])?(?:\b|[m\s,.;(]))")
TESSERA_PATTERN(n_after_t, R"(\bp?t\s?(?:is|[0-4]|x|[li|])\s?(?:mi|[a-d])?\d?[\s,]*(y|r)?p?n\s?)" TESSERA_N_CODE
                           R"((?:\b|[m\s,.;(]))")
// Synoptic forms: "Pathological T. T2", "T Stage: 3", "Primary Tumor (pT): T1c",
// "Extent of invasion: T2",
// "Pathological N. NO,NOS", "N Stage: 0", "Regional Lymph Nodes (pN): N0".
TESSERA_PATTERN(
    synoptic_t,
    R"(\b(?:patholog(?:ic|ical)\s+t|t\s+stage|t\s+category|primary\s+tumou?r\s*\(p?t\)|extent\s+of\s+invasion)\s*(?:\([^)]{0,30}\))?\s*[.:\-]?\s*(y|r)?(?:p?t\s?)?)" TESSERA_T_CODE
    R"((?:\b|[n\s,.;]))")
TESSERA_PATTERN(
    synoptic_n,
    R"(\b(?:patholog(?:ic|ical)\s+n|n\s+stage|n\s+category|regional\s+lymph\s+nodes\s*\(p?n\)|(?:regional\s+)?lymph\s+nodes?\s+stage)\s*(?:\([^)]{0,30}\))?\s*[.:\-]?\s*(y|r)?(?:p?n\s?)?)" TESSERA_N_CODE
    R"((?:\b|[m\s,.;(]))")
// "T2,NOS": a registry's category, "not otherwise specified" past it.
TESSERA_PATTERN(registry_t, R"(\b(y|r)?p?t\s?)" TESSERA_BARE_T_CODE R"(\s?,\s?nos\b)")
// "N0(i+)", "N0(mol-)": the isolated-tumour-cell suffix marks a bare N0 as a
// stage. Its empty group is the subcategory it never has.
TESSERA_PATTERN(n0_with_cell_suffix, R"(\b(y|r)?p?n\s?(0|o)()\s?\(\s?(?:i|mol)\s?[+\-]\s?\))")
#undef TESSERA_T_CODE
#undef TESSERA_BARE_T_CODE
#undef TESSERA_N_CODE
// "Lymph nodes: 2/12 positive", "9 of 12 positive for tumor" (no parentheses).
TESSERA_PATTERN(
    node_ratio_positive,
    R"(\blymph\s+nodes?\s*[:\-]?\s*(\d{1,2})\s*(?:/|of|out\s+of)\s*(\d{1,2})\s+(?:\w+\s+){0,2}?(?:positive|involved))")
// Nodes reported free of tumour; `negative_node_count` finds their count, when
// given, inside the match.
TESSERA_PATTERN(
    nodes_negative,
    R"([^.;]{0,40}?lymph\s*\.?\s*nodes?\s*,?\s*(?:are\s+|is\s+)?(?:all\s+)?(?:negative|free\s+of\s+(?:tumou?r|carcinoma|metasta)|benign|with\s+no\s+(?:evidence\s+of\s+)?(?:tumou?r|carcinoma|metasta)))")

TESSERA_PATTERN(
    negative_node_count,
    R"((?:\b(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)|\((\d{1,2})\))\s+(?:[a-z/\-]+\s+){0,5}?lymph)")

int number_word(const std::string& word) {
  static const std::map<std::string, int> words = {
      {"zero", 0},     {"no", 0},         {"none", 0},      {"one", 1},       {"two", 2},       {"three", 3},
      {"four", 4},     {"five", 5},       {"six", 6},       {"seven", 7},     {"eight", 8},     {"nine", 9},
      {"ten", 10},     {"eleven", 11},    {"twelve", 12},   {"thirteen", 13}, {"fourteen", 14}, {"fifteen", 15},
      {"sixteen", 16}, {"seventeen", 17}, {"eighteen", 18}, {"nineteen", 19}, {"twenty", 20}};
  const std::string w = ascii_lowercase(word);
  if (const auto it = words.find(w); it != words.end()) return it->second;
  return std::atoi(w.c_str());
}

// A stage code as written, OCR's letters read back as digits: "l" -> "1", "O" -> "0".
std::string stage_code(const std::string& written) {
  std::string code = ascii_lowercase(written);
  if (code == "l" || code == "i" || code == "|") return "1";
  if (code == "o") return "0";
  return code;
}

int roman_or_digit(const std::string& text) {
  const std::string t = ascii_lowercase(text);
  if (t == "i" || t == "1") return 1;
  if (t == "ii" || t == "2") return 2;
  if (t == "iii" || t == "3") return 3;
  return 0;
}

std::string receptor_value(const std::string& raw) {
  const std::string v = ascii_lowercase(raw);
  if (v == "positive" || v == "+" || v == "pos") return "positive";
  return "negative";
}

ReportField field(const char* name, std::string value, const Match& m, bool derived = false) {
  return ReportField{name, std::move(value), m.begin, m.end, derived};
}

// A stage's span ends with its value: the character that delimits it ("pT2 ",
// "pT2N") is not part of it.
ReportField stage_field(const char* name, std::string value, const Match& m) {
  return ReportField{name, std::move(value), m.begin, m.groups_end, false};
}

std::optional<ReportField> first_of(std::string_view text, const char* name,
                                    std::initializer_list<std::pair<const RE2*, const char*>> patterns) {
  std::optional<ReportField> best;
  for (const auto& [pattern, value] : patterns) {
    const auto matches = find_all(text, *pattern);
    if (matches.empty()) continue;
    const auto& m = matches.front();
    std::string v = value ? value : ascii_lowercase(m.groups.at(0)) + " carcinoma";
    if (!best || m.begin < best->begin) best = field(name, v, m);
  }
  return best;
}

}  // namespace

namespace {

// Tis (in situ) ranks below every invasive category.
int category_rank(const std::string& category) {
  return category.size() > 2 && category[1] == 'i' ? 0 : category[1] - '0' + 1;
}

}  // namespace

std::string ajcc_category(std::string_view value) {
  if (value.size() >= 2 && (value[0] == 'T' || value[0] == 'N' || value[0] == 'M')) {
    if (value.substr(1, 2) == "is") return std::string(value.substr(0, 3));
    return std::string(value.substr(0, 2));
  }
  return std::string(value);
}

std::vector<ReportField> extract_report_fields(std::string_view text) {
  std::vector<ReportField> fields;

  // Histologic type: the earliest mention among the types; mixed first, since
  // it contains the words of the others.
  if (auto mixed = first_of(text, "histologic_type", {{&mixed_type(), "mixed ductal and lobular carcinoma"}})) {
    fields.push_back(*mixed);
  } else if (auto type = first_of(text, "histologic_type",
                                  {{&lobular_type(), "invasive lobular carcinoma"},
                                   {&ductal_type(), "invasive ductal carcinoma"},
                                   {&special_type(), nullptr}})) {
    fields.push_back(*type);
  }

  // Grade: a named Nottingham grade, else the 3-9 score, else a bare grade.
  if (const auto m = find_all(text, nottingham_grade()); !m.empty()) {
    fields.push_back(field("grade", std::to_string(roman_or_digit(m[0].groups[0])), m[0]));
  } else if (const auto s = find_all(text, grade_score()); !s.empty()) {
    const int score = std::atoi(s[0].groups[0].c_str());
    fields.push_back(field("grade", std::to_string(score <= 5 ? 1 : score <= 7 ? 2 : 3), s[0]));
  } else if (const auto g = find_all(text, plain_grade()); !g.empty()) {
    fields.push_back(field("grade", std::to_string(roman_or_digit(g[0].groups[0])), g[0]));
  }

  for (const auto& [name, pattern] : {std::pair{"er", &er_status()}, std::pair{"pr", &pr_status()}}) {
    if (const auto m = find_all(text, *pattern); !m.empty())
      fields.push_back(field(name, receptor_value(m[0].groups[0]), m[0]));
  }
  if (const auto m = find_all(text, her2_status()); !m.empty()) {
    const std::string v = ascii_lowercase(m[0].groups[0]);
    std::string value = "negative";
    if (v == "positive" || v == "amplified" || v == "3+" || v == "+") value = "positive";
    if (v == "equivocal" || v == "2+") value = "equivocal";
    fields.push_back(field("her2", value, m[0]));
  }

  // Tumour size: the largest dimension over every tumour-size mention, in cm
  // (a multifocal tumour is staged by its largest focus).
  std::optional<double> size_cm;
  std::optional<Match> size_match;
  const auto consider_size = [&](const Match& m, std::initializer_list<size_t> number_groups, size_t unit_group) {
    double largest = 0;
    for (const size_t g : number_groups) {
      if (!m.groups[g].empty()) largest = std::max(largest, std::atof(m.groups[g].c_str()));
    }
    if (ascii_lowercase(m.groups[unit_group]) == "mm") largest /= 10;
    if (largest > 0 && (!size_cm || largest > *size_cm)) size_cm = largest, size_match = m;
  };
  for (const auto& m : find_all(text, size_with_context())) consider_size(m, {0, 1, 2}, 3);
  for (const auto& m : find_all(text, size_before_dimension())) consider_size(m, {0}, 1);
  for (const auto& m : find_all(text, noun_then_dimensions())) consider_size(m, {0, 1, 2}, 3);
  for (const auto& m : find_all(text, dimensions_then_noun())) {
    if (!RE2::PartialMatch(re2::StringPiece(text.data() + m.begin, m.end - m.begin), distance_word()))
      consider_size(m, {0, 1, 2}, 3);
  }
  for (const auto& m : find_all(text, size_unit_first())) consider_size(m, {1}, 0);
  if (size_cm) {
    char text_value[32];
    std::snprintf(text_value, sizeof text_value, "%.1f", *size_cm);
    fields.push_back(field("tumor_size_cm", text_value, *size_match));
  }

  // Nodes: every "(x/y)" ratio in a sentence about lymph nodes and every
  // "x of y lymph nodes", summed over the report's parts (sentinel and
  // axillary specimens add up to one total). The span runs from the first
  // count to the last, so it holds every number the total came from.
  int positive = 0, examined = 0;
  bool examined_counted = true;
  std::optional<Match> node_span;
  const auto add_node_match = [&](const Match& m) {
    if (!node_span) {
      node_span = m;
    } else {
      node_span->begin = std::min(node_span->begin, m.begin);
      node_span->end = std::max(node_span->end, m.end);
    }
  };
  for (const auto& m : find_all(text, node_ratio())) {
    const size_t from = m.begin > 200 ? m.begin - 200 : 0;
    const std::string before = ascii_lowercase(std::string(text.substr(from, m.begin - from)));
    if (before.find("lymph") == std::string::npos && before.find("node") == std::string::npos) continue;
    const int p = std::atoi(m.groups[0].c_str()), e = std::atoi(m.groups[1].c_str());
    if (p > e) continue;
    positive += p, examined += e;
    add_node_match(m);
  }
  if (!node_span) {
    for (const auto& m : find_all(text, node_ratio_positive())) {
      const int p = std::atoi(m.groups[0].c_str()), e = std::atoi(m.groups[1].c_str());
      if (p > e) continue;
      positive += p, examined += e;
      add_node_match(m);
    }
  }
  if (!node_span) {
    for (const auto& m : find_all(text, node_of_words())) {
      const int p = number_word(m.groups[0]), e = number_word(m.groups[1]);
      if (p > e) continue;
      positive += p, examined += e;
      add_node_match(m);
    }
  }
  if (!node_span) {
    // Only nodes reported negative: none positive; the number examined is
    // known only when every such mention counts its nodes.
    for (const auto& m : find_all(text, nodes_negative())) {
      const auto counts = find_all(text.substr(m.begin, m.end - m.begin), negative_node_count());
      const std::string count = counts.empty()                 ? ""
                                : !counts[0].groups[0].empty() ? counts[0].groups[0]
                                                               : counts[0].groups[1];
      if (count.empty()) examined_counted = false;
      examined += count.empty() ? 0 : number_word(count);
      add_node_match(m);
    }
  }
  if (node_span) {
    fields.push_back(field("nodes_positive", std::to_string(positive), *node_span));
    if (examined_counted) fields.push_back(field("nodes_examined", std::to_string(examined), *node_span));
  }

  if (const auto m = find_all(text, lvi_status()); !m.empty()) {
    const std::string v = ascii_lowercase(m[0].groups[0]);
    const bool present =
        v == "present" || v == "identified" || v == "positive" || v == "seen" || v == "extensive" || v == "focal";
    fields.push_back(field("lvi", present ? "present" : "absent", m[0]));
  } else if (const auto n = find_all(text, lvi_none()); !n.empty()) {
    fields.push_back(field("lvi", "absent", n[0]));
  }
  if (const auto m = find_all(text, margin_status()); !m.empty()) {
    const std::string v = ascii_lowercase(m[0].groups[0]);
    fields.push_back(field("margins", v == "positive" || v == "involved" ? "positive" : "negative", m[0]));
  }

  // pT: the highest stated category (the largest focus stages the tumour).
  std::optional<ReportField> pt;
  for (const RE2* pattern : {&stated_pt(), &staged_t(), &synoptic_t(), &t_before_n(), &registry_t()}) {
    for (const auto& m : find_all(text, *pattern)) {
      const std::string category = stage_code(m.groups[1]);
      if (category == "x") continue;
      const std::string value = "T" + category + ascii_lowercase(m.groups[2]);
      if (!pt || category_rank(ajcc_category(value)) > category_rank(ajcc_category(pt->value))) {
        pt = stage_field("pt", value, m);
        pt->post_treatment = ascii_lowercase(m.groups[0]) == "y";
      }
    }
  }
  const bool breast = !find_all(text, breast_report()).empty();
  if (!pt && breast && size_cm && *size_cm > 0) {
    const auto size_field = *find_field(fields, "tumor_size_cm");
    const std::string category = *size_cm <= 2 ? "T1" : *size_cm <= 5 ? "T2" : "T3";
    pt = ReportField{"pt", category, size_field.begin, size_field.end, true};
  }
  if (pt) fields.push_back(*pt);

  std::optional<ReportField> pn;
  for (const RE2* pattern :
       {&stated_pn(), &compound_pn(), &staged_n(), &synoptic_n(), &n_after_t(), &n0_with_cell_suffix()}) {
    for (const auto& m : find_all(text, *pattern)) {
      const std::string category = stage_code(m.groups[1]);
      if (category == "x") continue;
      const std::string value = "N" + category + ascii_lowercase(m.groups[2]);
      if (!pn || ajcc_category(value) > ajcc_category(pn->value)) {
        pn = stage_field("pn", value, m);
        pn->post_treatment = ascii_lowercase(m.groups[0]) == "y";
      }
    }
  }
  if (!pn && breast && node_span) {
    const std::string category = positive == 0 ? "N0" : positive <= 3 ? "N1" : positive <= 9 ? "N2" : "N3";
    pn = ReportField{"pn", category, node_span->begin, node_span->end, true};
  }
  if (pn) fields.push_back(*pn);

  if (const auto m = find_all(text, stated_pm()); !m.empty()) {
    for (const auto& match : m) {
      if (ascii_lowercase(match.groups[0]) == "x") continue;
      fields.push_back(stage_field("pm", "M" + match.groups[0], match));
      break;
    }
  }
  return fields;
}

std::optional<ReportField> find_field(const std::vector<ReportField>& fields, std::string_view name) {
  for (const auto& f : fields) {
    if (f.name == name) return f;
  }
  return std::nullopt;
}

}  // namespace tessera::stages
