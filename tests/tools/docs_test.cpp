// The documentation quotes the code: every fenced block in docs/*.md that follows a line
// "<!-- from PATH -->" must appear, verbatim, in the file PATH of the repository, so an excerpt
// cannot drift from the code it explains. Files the docs name in that form must exist.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/paths.h"
#include "train/files.h"

namespace {

struct Excerpt {
  std::string doc, source, text;
  int line;
};

// Every "<!-- from PATH -->" followed by a ``` block in one markdown text.
std::vector<Excerpt> excerpts_of(const std::string& doc, const std::string& markdown) {
  std::vector<Excerpt> out;
  std::istringstream in(markdown);
  std::string line, source;
  int number = 0, start = 0;
  bool in_block = false;
  std::string text;
  const std::string marker = "<!-- from ";
  while (std::getline(in, line)) {
    ++number;
    if (in_block) {
      if (line.rfind("```", 0) == 0) {
        out.push_back({doc, source, text, start});
        in_block = false;
        source.clear();
      } else {
        text += line + "\n";
      }
    } else if (line.rfind(marker, 0) == 0) {
      source = line.substr(marker.size(), line.find(" -->") - marker.size());
    } else if (!source.empty() && line.rfind("```", 0) == 0) {
      in_block = true;
      text.clear();
      start = number;
    } else if (!source.empty() && !line.empty()) {
      ADD_FAILURE() << doc << ":" << number << ": \"<!-- from " << source << " -->\" is not followed by a code block";
      source.clear();
    }
  }
  return out;
}

}  // namespace

TEST(Docs, ExcerptsMatchTheCodeTheyQuote) {
  const std::filesystem::path root = dybat::test::source_dir();
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root / "docs")) {
    if (entry.path().extension() != ".md") continue;
    const std::string doc = "docs/" + entry.path().filename().string();
    for (const Excerpt& e : excerpts_of(doc, dybat::read_file(entry.path().string()))) {
      const std::filesystem::path source = root / e.source;
      if (!std::filesystem::exists(source)) {
        ADD_FAILURE() << e.doc << ":" << e.line << " quotes " << e.source << ", which does not exist";
        continue;
      }
      EXPECT_NE(dybat::read_file(source.string()).find(e.text), std::string::npos)
          << e.doc << ":" << e.line << ": this excerpt is no longer in " << e.source << ":\n"
          << e.text;
      ++checked;
    }
  }
  EXPECT_GE(checked, 15) << "the tutorial, add-an-op, algorithm and life-of-a-step pages quote the code";
}
