// End-to-end tests of the txguard CLI: the built binary, real files, real exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct RunResult {
    int exit_code;
    std::string out;  // stdout
    std::string err;  // stderr
};

std::string ReadFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class Cli : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("txguard_e2e_" +
                std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Runs a shell command line, capturing stdout and stderr separately.
    RunResult Sh(const std::string& cmd) {
        const auto out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
        const std::string full = cmd + " >" + out.string() + " 2>" + err.string();
        const int status = std::system(full.c_str());
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(out), ReadFile(err)};
    }
    RunResult Txg(const std::string& args) { return Sh(std::string(TXGUARD_BINARY) + " " + args); }
    std::string P(const std::string& name) const { return (dir_ / name).string(); }
    void Write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name, std::ios::binary) << text;
    }

    fs::path dir_;
};

TEST_F(Cli, EveryCommandHasHelp) {
    for (const char* cmd : {"", "simulate", "train", "score", "evaluate", "detectors"}) {
        auto r = Txg(std::string(cmd) + " --help");
        EXPECT_EQ(r.exit_code, 0) << cmd;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << ": " << r.out;
    }
    auto train = Txg("train --help");
    EXPECT_NE(train.out.find("trees"), std::string::npos);  // detector parameters are listed
    auto version = Txg("--version");
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_NE(version.out.find("txguard"), std::string::npos);
    // Release builds run on jemalloc; sanitizer builds keep their own malloc.
    EXPECT_NE(version.out.find(TXGUARD_EXPECT_JEMALLOC ? "allocator: jemalloc 5"
                                                       : "allocator: glibc malloc"),
              std::string::npos)
        << version.out;
    EXPECT_NE(Txg("").exit_code, 0);
    EXPECT_NE(Txg("frobnicate").exit_code, 0);
}

TEST_F(Cli, SimulateTrainEvaluateScoreEndToEnd) {
    auto sim =
        Txg("simulate --customers 300 --terminals 600 --days 60 --start 2018-04-01 --seed 3 "
            "-o " +
            P("tx.csv"));
    ASSERT_EQ(sim.exit_code, 0) << sim.err;
    EXPECT_NE(sim.out.find("transactions"), std::string::npos);
    auto sim2 =
        Txg("simulate --customers 300 --terminals 600 --days 60 --start 2018-04-01 --seed 3 "
            "--threads 1 -o " +
            P("tx2.csv"));
    ASSERT_EQ(sim2.exit_code, 0);
    EXPECT_EQ(ReadFile(P("tx.csv")), ReadFile(P("tx2.csv")));  // deterministic for a seed

    auto train = Txg("train --data " + P("tx.csv") +
                     " --schema handbook --detector iforest "
                     "--param trees=50 --seed 1 --train-from 2018-04-01 --train-to 2018-05-10 -o " +
                     P("model.txg") + " --json");
    ASSERT_EQ(train.exit_code, 0) << train.err;
    auto tj = nlohmann::json::parse(train.out);
    EXPECT_EQ(tj["detector"], "iforest");
    EXPECT_EQ(tj["params"]["trees"], "50");
    const auto names = tj["features"].get<std::vector<std::string>>();
    for (const char* f :
         {"amount", "hour", "cust_mean_30d", "cust_amount_z_30d", "term_risk_d7_30d"})
        EXPECT_NE(std::find(names.begin(), names.end(), f), names.end()) << f;

    auto eval = Txg("evaluate --model " + P("model.txg") + " --data " + P("tx.csv") +
                    " --from 2018-05-18 --to 2018-05-30 --json");
    ASSERT_EQ(eval.exit_code, 0) << eval.err;
    auto j = nlohmann::json::parse(eval.out);
    for (const char* key : {"roc_auc", "average_precision", "precision", "recall", "f1",
                            "threshold", "n", "n_positive"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_GT(j["roc_auc"].get<double>(), 0.5);  // better than chance on simulated fraud
    EXPECT_GT(j["n_positive"].get<int>(), 0);
    auto human = Txg("evaluate --model " + P("model.txg") + " --data " + P("tx.csv") +
                     " --from 2018-05-18 --to 2018-05-30");
    ASSERT_EQ(human.exit_code, 0);
    EXPECT_NE(human.out.find("ROC-AUC"), std::string::npos);

    auto score = Txg("score --model " + P("model.txg") + " --data " + P("tx.csv") +
                     " --from 2018-05-18 --to 2018-05-30 -o " + P("scores.csv"));
    ASSERT_EQ(score.exit_code, 0) << score.err;
    std::ifstream in(P("scores.csv"));
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "transaction_id,score");
    std::size_t rows = 0;
    while (std::getline(in, line)) ++rows;
    EXPECT_EQ(rows, j["n"].get<std::size_t>());
}

TEST_F(Cli, MalformedRowsNameFileLineColumnOrAreSkipped) {
    Write(
        "bad.csv",
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,TX_FRAUD_SCENARIO\n"
        "0,2018-04-01 00:00:31,1,10,57.16,0,0\n"
        "1,2018-04-01 00:02:10,2,11,12x,0,0\n"
        "2,2018-04-01 00:07:56,1,12,146.0,0,0\n"
        "3,2018-04-01 00:09:29,3,13,64.49,1,1\n");
    auto r = Txg("train --data " + P("bad.csv") + " -o " + P("m.txg"));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(P("bad.csv") + ":3:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("TX_AMOUNT"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(P("m.txg")));
    auto skip =
        Txg("train --data " + P("bad.csv") + " --on-error skip --param trees=5 -o " + P("m.txg"));
    EXPECT_EQ(skip.exit_code, 0) << skip.err;
    EXPECT_NE(skip.err.find("skipped 1 malformed row"), std::string::npos) << skip.err;
    auto missing = Txg("train --data " + P("nope.csv") + " -o " + P("m2.txg"));
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("nope.csv"), std::string::npos);
}

TEST_F(Cli, BadArgumentsAreClearErrors) {
    Txg("simulate --customers 50 --terminals 100 --days 10 -o " + P("tx.csv"));
    auto bad_param = Txg("train --data " + P("tx.csv") + " --param trees=zero -o " + P("m.txg"));
    EXPECT_NE(bad_param.exit_code, 0);
    EXPECT_NE(bad_param.err.find("trees"), std::string::npos) << bad_param.err;
    auto unknown = Txg("train --data " + P("tx.csv") + " --detector magic -o " + P("m.txg"));
    EXPECT_NE(unknown.exit_code, 0);
    EXPECT_NE(unknown.err.find("iforest"), std::string::npos) << unknown.err;
    auto bad_date =
        Txg("train --data " + P("tx.csv") + " --train-from 2018-13-01 -o " + P("m.txg"));
    EXPECT_NE(bad_date.exit_code, 0);
    EXPECT_NE(bad_date.err.find("2018-13-01"), std::string::npos) << bad_date.err;
    auto bad_sim = Txg("simulate --customers 0 -o " + P("x.csv"));
    EXPECT_NE(bad_sim.exit_code, 0);
    EXPECT_NE(bad_sim.err.find("customers"), std::string::npos) << bad_sim.err;
}

TEST_F(Cli, CorruptOrForeignModelIsRefusedWithAReason) {
    Txg("simulate --customers 50 --terminals 100 --days 10 -o " + P("tx.csv"));
    ASSERT_EQ(Txg("train --data " + P("tx.csv") + " --param trees=5 -o " + P("m.txg")).exit_code,
              0);
    std::string bytes = ReadFile(P("m.txg"));
    bytes[bytes.size() / 2] ^= 0x5a;
    Write("corrupt.txg", bytes);
    auto r = Txg("evaluate --model " + P("corrupt.txg") + " --data " + P("tx.csv"));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("checksum"), std::string::npos) << r.err;
    Write("foreign.txg", "this is not a model");
    auto f =
        Txg("score --model " + P("foreign.txg") + " --data " + P("tx.csv") + " -o " + P("s.csv"));
    EXPECT_NE(f.exit_code, 0);
    EXPECT_NE(f.err.find("not a txguard model"), std::string::npos) << f.err;
}

TEST_F(Cli, SupervisedXgboostWithFeatureSpecFileAndCardPrecision) {
    ASSERT_EQ(Txg("simulate --customers 400 --terminals 800 --days 75 --seed 5 -o " + P("tx.csv"))
                  .exit_code,
              0);
    Write("spec.json", R"({"time": ["hour", "is_night"], "entities": [
        {"name": "c", "key": "customer_id", "windows_days": [1, 14],
         "aggregates": ["count", "mean", "max"], "amount_vs_history": ["zscore"]},
        {"name": "t", "key": "terminal_id", "windows_days": [], "aggregates": [],
         "label_risk": {"delay_days": 7, "windows_days": [7, 28]}}]})");
    auto train =
        Txg("train --data " + P("tx.csv") + " --detector xgboost --features " + P("spec.json") +
            " --param trees=60 --hybrid iforest --train-from 2018-04-20 "
            "--train-to 2018-05-20 --valid-from 2018-05-21 --valid-to 2018-05-27 --json -o " +
            P("xgb.txg"));
    ASSERT_EQ(train.exit_code, 0) << train.err;
    auto tj = nlohmann::json::parse(train.out);
    EXPECT_EQ(tj["features"].size(), 14u);  // 1 + 2 time + 7 customer + 4 terminal
    EXPECT_EQ(tj["inputs"].back(), "score_iforest");
    auto eval = Txg("evaluate --model " + P("xgb.txg") + " --data " + P("tx.csv") +
                    " --from 2018-06-04 --to 2018-06-14 --delay-days 7 --json");
    ASSERT_EQ(eval.exit_code, 0) << eval.err;
    auto j = nlohmann::json::parse(eval.out);
    EXPECT_TRUE(j.contains("card_precision_at_100"));
    EXPECT_EQ(j["card_precision_at_100_daily"].size(), 11u);
    EXPECT_GT(j["removed_known_compromised"].get<int>(), 0);
    EXPECT_GT(j["roc_auc"].get<double>(), 0.75);  // supervised on simulated fraud
    auto k = Txg("evaluate --model " + P("xgb.txg") + " --data " + P("tx.csv") +
                 " --from 2018-06-04 --to 2018-06-14 --top-k 10 --json");
    ASSERT_EQ(k.exit_code, 0) << k.err;
    EXPECT_TRUE(nlohmann::json::parse(k.out).contains("card_precision_at_10"));
    // Two models in one report: both named, reasons from xgboost's contributions.
    ASSERT_EQ(Txg("train --data " + P("tx.csv") + " --param trees=20 -o " + P("if.txg")).exit_code,
              0);
    auto rep = Txg("evaluate --model " + P("xgb.txg") + " --model " + P("if.txg") + " --data " +
                   P("tx.csv") + " --from 2018-06-04 --to 2018-06-14 --delay-days 7 --report " +
                   P("report.html") + " --json");
    ASSERT_EQ(rep.exit_code, 0) << rep.err;
    const std::string html = ReadFile(P("report.html"));
    EXPECT_NE(html.find("xgboost (" + P("xgb.txg") + ")"), std::string::npos);
    EXPECT_NE(html.find("iforest (" + P("if.txg") + ")"), std::string::npos);
    EXPECT_NE(html.find("score_iforest"), std::string::npos);  // importance / reasons name inputs
    EXPECT_EQ(html.find("src=\"http"), std::string::npos);     // self-contained: no remote scripts
    // Supervised training without labels, or a bad spec, are clear errors.
    Write("bad.json", R"({"entities": [{"name": "c", "windows_days": [0]}]})");
    auto bad =
        Txg("train --data " + P("tx.csv") + " --features " + P("bad.json") + " -o " + P("m.txg"));
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("bad.json"), std::string::npos) << bad.err;
    Write("typo.json", R"({"entitys": []})");
    auto typo =
        Txg("train --data " + P("tx.csv") + " --features " + P("typo.json") + " -o " + P("m.txg"));
    EXPECT_NE(typo.err.find("entitys"), std::string::npos) << typo.err;
}

const fs::path kShared = TXGUARD_SHARED_DIR;

// The acceptance check of the foundation: on the handbook data, the ROC-AUC and average
// precision txguard reports equal scikit-learn's on the same scores to 1e-9.
TEST_F(Cli, HandbookMetricsEqualScikitLearnOnTheSameScores) {
    const fs::path data = kShared / "data/handbook/transactions.csv.gz";
    if (!fs::exists(data)) GTEST_SKIP() << "needs ../shared/data/handbook (absent)";
    if (Sh("/usr/bin/python3 -c 'import sklearn, pandas'").exit_code != 0)
        GTEST_SKIP() << "needs Debian's python3-sklearn and python3-pandas (scripts/setup.sh)";
    auto train = Txg("train --data " + data.string() +
                     " --schema handbook --param trees=100 "
                     "--train-from 2018-07-25 --train-to 2018-07-31 -o " +
                     P("hb.txg"));
    ASSERT_EQ(train.exit_code, 0) << train.err;
    auto eval = Txg("evaluate --model " + P("hb.txg") + " --data " + data.string() +
                    " --from 2018-08-08 --to 2018-08-14 --json");
    ASSERT_EQ(eval.exit_code, 0) << eval.err;
    auto j = nlohmann::json::parse(eval.out);
    auto score = Txg("score --model " + P("hb.txg") + " --data " + data.string() +
                     " --from 2018-08-08 --to 2018-08-14 -o " + P("scores.csv"));
    ASSERT_EQ(score.exit_code, 0) << score.err;
    Write("check.py",
          "import sys, json, pandas as pd\n"
          "from sklearn.metrics import roc_auc_score, average_precision_score\n"
          "s = pd.read_csv(sys.argv[1])\n"
          "d = pd.read_csv(sys.argv[2], usecols=['TRANSACTION_ID', 'TX_FRAUD'])\n"
          "m = s.merge(d, left_on='transaction_id', right_on='TRANSACTION_ID', how='left')\n"
          "assert len(m) == len(s) and m.TX_FRAUD.notna().all()\n"
          "print(json.dumps(dict(n=len(m), roc_auc=roc_auc_score(m.TX_FRAUD, m.score),\n"
          "  average_precision=average_precision_score(m.TX_FRAUD, m.score))))\n");
    auto py = Sh("/usr/bin/python3 " + P("check.py") + " " + P("scores.csv") + " " + data.string());
    ASSERT_EQ(py.exit_code, 0) << py.err;
    auto sk = nlohmann::json::parse(py.out);
    EXPECT_EQ(sk["n"], j["n"]);
    EXPECT_NEAR(sk["roc_auc"].get<double>(), j["roc_auc"].get<double>(), 1e-9);
    EXPECT_NEAR(sk["average_precision"].get<double>(), j["average_precision"].get<double>(), 1e-9);
    RecordProperty("roc_auc", std::to_string(j["roc_auc"].get<double>()));
}

TEST_F(Cli, AdbenchScoresAreKeyedByRowNumber) {
    const fs::path data = kShared / "data/adbench/WBC.csv";
    if (!fs::exists(data)) GTEST_SKIP() << "needs ../shared/data/adbench (absent)";
    ASSERT_EQ(Txg("train --data " + data.string() + " --schema adbench -o " + P("m.txg")).exit_code,
              0);
    auto s = Txg("score --model " + P("m.txg") + " --data " + data.string() + " -o " + P("s.csv"));
    ASSERT_EQ(s.exit_code, 0) << s.err;
    std::ifstream in(P("s.csv"));
    std::string line;
    std::getline(in, line);
    std::size_t row = 0;
    while (std::getline(in, line)) {
        ASSERT_EQ(line.substr(0, line.find(',')), std::to_string(row)) << line;
        ++row;
    }
    EXPECT_EQ(row, 223u);
    auto e = Txg("evaluate --model " + P("m.txg") + " --data " + data.string() + " --json");
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_GT(nlohmann::json::parse(e.out)["roc_auc"].get<double>(), 0.8);
    auto dated =
        Txg("evaluate --model " + P("m.txg") + " --data " + data.string() + " --from 2018-01-01");
    EXPECT_NE(dated.exit_code, 0);
    EXPECT_NE(dated.err.find("no timestamp"), std::string::npos) << dated.err;
}

}  // namespace
