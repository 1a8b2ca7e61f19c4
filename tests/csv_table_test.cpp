#include "prompts/csv_table.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace tessera::stages {
namespace {

TEST(CsvTable, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  const auto t = parse_csv("id,text\r\nA,\"x, \"\"y\"\"\nz\"\nB,plain\n\n", "r.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"id", "text"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0][1], "x, \"y\"\nz");
  EXPECT_EQ(t.rows[1][1], "plain");
  EXPECT_EQ(t.row_lines, (std::vector<size_t>{2, 4}));
  EXPECT_EQ(t.where(1), "r.csv:4");
  EXPECT_EQ(t.column("text"), 1u);
}

TEST(CsvTable, EmptyFieldsAndByteOrderMark) {
  const auto t = parse_csv(
      "\xEF\xBB\xBF"
      "a,b,c\n,\"\",x",
      "r.csv");
  EXPECT_EQ(t.header[0], "a");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"", "", "x"}));
}

struct Bad {
  const char* text;
  const char* message;
};

class CsvErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(CsvErrors, NameTheFileLineAndColumn) {
  try {
    parse_csv(GetParam().text, "bad.csv");
    FAIL() << "accepted: " << GetParam().text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().message), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, CsvErrors,
    ::testing::Values(Bad{"id,text\nA,\"never closed\n", "bad.csv:2:3: quoted field is never closed"},
                      Bad{"id,text\nA,ab\"c\n", "bad.csv:2:5: quote inside an unquoted field"},
                      Bad{"id,text\nA,\"ab\"c\n", "bad.csv:2:7: unexpected character after a closing quote"},
                      Bad{"id,text\nA,b,c\n", "bad.csv:2:1: expected 2 fields, found 3"},
                      Bad{"id,text\nA,caf\xE9\n", "bad.csv:2:6: invalid UTF-8"}, Bad{"", "bad.csv:1:1: empty file"}));

TEST(CsvTable, MissingColumnListsTheHeader) {
  const auto t = parse_csv("case,report\nA,x\n", "r.csv");
  try {
    t.column("text");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "r.csv:1: no column 'text' (the header has: case, report)");
  }
}

}  // namespace
}  // namespace tessera::stages
