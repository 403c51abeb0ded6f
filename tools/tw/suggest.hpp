#pragma once
// "did you mean": the name a mistyped word most likely meant, for unknown
// verbs of `tw` and unknown commands of `tw shell`.
//
//   did_you_mean("tnue", {"tune", "health", "sweep"})  // "tune"
//   did_you_mean("frobnicate", {...})                  // nullopt: nothing close
#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tw::cli {

// Levenshtein distance, with a swap of two neighbours counting as one edit
// (the commonest typo: "tnue").
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i)
        for (std::size_t j = 1; j <= b.size(); ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[a.size()][b.size()];
}

// The nearest candidate within two edits (one for words of up to three
// letters), or nullopt; ties go to the first candidate.
inline std::optional<std::string> did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
    const std::size_t limit = word.size() <= 3 ? 1 : 2;
    std::optional<std::string> best;
    std::size_t best_distance = limit + 1;
    for (const auto& c : candidates) {
        const auto d = edit_distance(word, c);
        if (d < best_distance) best_distance = d, best = c;
    }
    return best;
}

}  // namespace tw::cli
