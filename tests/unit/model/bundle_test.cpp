#include "txguard/model/bundle.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "txguard/core/rng.hpp"
#include "txguard/model/pipeline.hpp"

namespace txguard {
namespace {

// A small behaviour table (handbook-like) with a label.
TransactionTable SmallTable(std::size_t n = 3000) {
    TransactionTable t;
    t.rows = n;
    Rng rng(3);
    for (std::size_t i = 0; i < n; ++i) {
        t.tx_id.Append(std::to_string(i));
        t.ts_ms.push_back(1522540800000 + static_cast<std::int64_t>(i) * 600'000);
        t.customer.ids.push_back(t.customer.pool.Intern("c" + std::to_string(rng.Below(50))));
        t.terminal.ids.push_back(t.terminal.pool.Intern("t" + std::to_string(rng.Below(80))));
        const bool fraud = rng.Uniform() < 0.02;
        t.amount.push_back(fraud ? rng.Uniform(300, 900) : rng.Uniform(5, 100));
        t.label.push_back(fraud);
    }
    return t;
}

Schema HandbookLike() {
    Schema s;
    s.name = "test";
    s.columns = {{Field::kTransactionId, "TRANSACTION_ID"},
                 {Field::kTimestamp, "TX_DATETIME"},
                 {Field::kCustomerId, "CUSTOMER_ID"},
                 {Field::kTerminalId, "TERMINAL_ID"},
                 {Field::kAmount, "TX_AMOUNT"},
                 {Field::kLabel, "TX_FRAUD"}};
    return s;
}

ModelBundle Trained() {
    TrainOptions opt;
    opt.params = {{"trees", "20"}};
    auto b = TrainModel(SmallTable(), HandbookLike(), opt);
    EXPECT_TRUE(b) << (b ? "" : b.error().message);
    return std::move(*b);
}

TEST(Bundle, RoundTripKeepsEverythingAndScoresBitForBit) {
    const ModelBundle b = Trained();
    const std::string bytes = SerializeModel(b);
    auto loaded = DeserializeModel(bytes, "m.txg");
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(loaded->detector_name, "iforest");
    EXPECT_EQ(loaded->threshold, b.threshold);
    EXPECT_EQ(loaded->features.Names(), b.features.Names());
    EXPECT_EQ(loaded->schema.columns, b.schema.columns);
    EXPECT_EQ(loaded->meta.data_fingerprint, b.meta.data_fingerprint);
    EXPECT_EQ(loaded->meta.txguard_version, b.meta.txguard_version);
    EXPECT_EQ(loaded->detector->Params(), b.detector->Params());
    const TransactionTable t = SmallTable();
    EXPECT_EQ(*ScoreTable(*loaded, t), *ScoreTable(b, t));
    EXPECT_EQ(SerializeModel(*loaded), bytes);
}

TEST(Bundle, CorruptTruncatedOrForeignFilesAreRefusedWithAReason) {
    const std::string bytes = SerializeModel(Trained());
    auto expect_refused = [](const std::string& data, ErrorCode code, const char* words) {
        auto r = DeserializeModel(data, "m.txg");
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, code) << r.error().message;
        EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find("m.txg"), std::string::npos);
    };
    expect_refused("", ErrorCode::kIncompatible, "not a txguard model");
    expect_refused("PK\x03\x04 a zip file", ErrorCode::kIncompatible, "not a txguard model");
    std::string v2 = bytes;
    v2[8] = 2;
    expect_refused(v2, ErrorCode::kIncompatible, "version 2");
    expect_refused(bytes.substr(0, bytes.size() - 10), ErrorCode::kCorrupt, "checksum");
    Rng rng(1);
    for (int i = 0; i < 300; ++i) {
        std::string m = bytes;
        m[12 + rng.Below(m.size() - 12)] ^= static_cast<char>(1 + rng.Below(255));
        expect_refused(m, ErrorCode::kCorrupt, "checksum");
    }
}

TEST(Bundle, SaveAndLoadFiles) {
    const ModelBundle b = Trained();
    const auto dir = std::filesystem::temp_directory_path() / "txguard_bundle_test";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "model.txg").string();
    ASSERT_TRUE(SaveModel(b, path));
    auto loaded = LoadModel(path);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->threshold, b.threshold);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    auto missing = LoadModel((dir / "nope.txg").string());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    EXPECT_FALSE(SaveModel(b, (dir / "no/such/dir/m.txg").string()));
    std::filesystem::remove_all(dir);
}

TEST(Bundle, HybridPartsRoundTripAndFeedTheMainDetector) {
    const TransactionTable t = SmallTable();
    TrainOptions opt;
    opt.params = {{"trees", "10"}};
    opt.hybrid = {"iforest"};
    auto b = TrainModel(t, HandbookLike(), opt);
    ASSERT_TRUE(b) << b.error().message;
    ASSERT_EQ(b->hybrid.size(), 1u);
    EXPECT_EQ(b->detector->NumFeatures(), b->features.Size() + 1);
    EXPECT_EQ(ModelInputNames(*b).back(), "score_iforest");
    auto loaded = DeserializeModel(SerializeModel(*b), "h.txg");
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(*ScoreTable(*loaded, t), *ScoreTable(*b, t));
    // Without labels, semi-supervised parts cannot be fitted.
    TransactionTable unlabelled = t;
    unlabelled.label.clear();
    auto r = TrainModel(unlabelled, HandbookLike(), opt);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("label"), std::string::npos);
}

TEST(Pipeline, TrainRangeSelectsRowsAndThresholdMatchesAlertRate) {
    const TransactionTable t = SmallTable();
    TrainOptions opt;
    opt.params = {{"trees", "20"}};
    opt.alert_rate = 0.05;
    auto range = DateRange::Parse("2018-04-02", "2018-04-05");
    ASSERT_TRUE(range);
    opt.range = *range;
    auto b = TrainModel(t, HandbookLike(), opt);
    ASSERT_TRUE(b) << b.error().message;
    auto rows = RowsInRange(t, *range);
    ASSERT_TRUE(rows);
    EXPECT_EQ(b->meta.train_rows, rows->size());
    EXPECT_EQ(rows->size(), 4u * 144u);  // 4 days of one transaction every 10 minutes
    EXPECT_EQ(b->meta.train_from, "2018-04-02");
    auto scores = ScoreTable(*b, t);
    ASSERT_TRUE(scores);
    std::size_t above = 0;
    for (std::size_t r : *rows) above += (*scores)[r] >= b->threshold;
    EXPECT_NEAR(static_cast<double>(above) / rows->size(), 0.05, 0.01);
    EXPECT_FALSE(DateRange::Parse("2018-04-05", "2018-04-02"));
    auto empty = DateRange::Parse("2030-01-01", "");
    EXPECT_FALSE(RowsInRange(t, *empty));
    opt.alert_rate = 1.5;
    EXPECT_FALSE(TrainModel(t, HandbookLike(), opt));
}

}  // namespace
}  // namespace txguard
