// The WAL-buffering VFS (src/store/sqlite_vfs.hpp): a commit's frames go down in one write, and
// they are in the file by the time the write that completes the commit frame returns; writes it
// does not understand pass straight through; and a writer killed at any moment loses no commit.
#include "store/sqlite_vfs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "store_test_util.hpp"
#include "txguard/store/store.hpp"

namespace txguard {
namespace {

using store_detail::WalBufferingVfs;
using store_detail::WalWriteStats;
using store_test::MakeTx;
using store_test::RawDb;
using store_test::TempDir;

constexpr int kPage = 4096;
constexpr int kFrame = 24 + kPage;

void Put4(unsigned char* p, std::uint32_t v) {
    p[0] = static_cast<unsigned char>(v >> 24);
    p[1] = static_cast<unsigned char>(v >> 16);
    p[2] = static_cast<unsigned char>(v >> 8);
    p[3] = static_cast<unsigned char>(v);
}

// What the file holds on disk, read with a descriptor of its own.
std::vector<unsigned char> OnDisk(const std::string& path) {
    std::vector<unsigned char> out;
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return out;
    struct stat st {};
    if (fstat(fd, &st) == 0) {
        out.resize(static_cast<std::size_t>(st.st_size));
        if (!out.empty() && pread(fd, out.data(), out.size(), 0) != st.st_size) out.clear();
    }
    ::close(fd);
    return out;
}

// A WAL file opened through the VFS directly, as SQLite opens one.
class VfsWalFile {
  public:
    explicit VfsWalFile(const TempDir& dir) : db_path_(dir.File("raw.db")) {
        ::close(::open(db_path_.c_str(), O_CREAT | O_RDWR, 0644));  // the WAL's database
        name_ = sqlite3_create_filename(db_path_.c_str(), (db_path_ + "-journal").c_str(),
                                        (db_path_ + "-wal").c_str(), 0, nullptr);
        vfs_ = sqlite3_vfs_find(WalBufferingVfs());
        mem_.resize(static_cast<std::size_t>(vfs_->szOsFile) / sizeof(std::max_align_t) + 1);
        file_ = reinterpret_cast<sqlite3_file*>(mem_.data());
        int out = 0;
        rc_ = vfs_->xOpen(vfs_, sqlite3_filename_wal(name_), file_,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_WAL, &out);
    }
    ~VfsWalFile() {
        if (rc_ == SQLITE_OK) file_->pMethods->xClose(file_);
        sqlite3_free_filename(name_);
    }
    VfsWalFile(const VfsWalFile&) = delete;
    VfsWalFile& operator=(const VfsWalFile&) = delete;

    int open_rc() const { return rc_; }
    std::string path() const { return db_path_ + "-wal"; }
    int Write(const std::vector<unsigned char>& bytes, std::int64_t off) {
        return file_->pMethods->xWrite(file_, bytes.data(), static_cast<int>(bytes.size()), off);
    }
    int Sync() { return file_->pMethods->xSync(file_, SQLITE_SYNC_NORMAL); }

  private:
    std::string db_path_;
    sqlite3_filename name_ = nullptr;
    sqlite3_vfs* vfs_ = nullptr;
    std::vector<std::max_align_t> mem_;
    sqlite3_file* file_ = nullptr;
    int rc_ = SQLITE_ERROR;
};

std::vector<unsigned char> WalHeader() {
    std::vector<unsigned char> h(32, 0);
    Put4(h.data(), 0x377f0682u);
    Put4(h.data() + 4, 3007000);
    Put4(h.data() + 8, kPage);
    return h;
}

std::vector<unsigned char> FrameHeader(std::uint32_t page, std::uint32_t db_size_if_commit) {
    std::vector<unsigned char> h(24, 0xab);
    Put4(h.data(), page);
    Put4(h.data() + 4, db_size_if_commit);
    return h;
}

std::vector<unsigned char> Page(unsigned char fill) {
    return std::vector<unsigned char>(kPage, fill);
}

TEST(SqliteWalVfs, HoldsFramesUntilTheCommitFrameIsCompleteThenWritesThemOnce) {
    TempDir dir;
    VfsWalFile wal(dir);
    ASSERT_EQ(wal.open_rc(), SQLITE_OK);
    const auto before = WalWriteStats();
    ASSERT_EQ(wal.Write(WalHeader(), 0), SQLITE_OK);
    ASSERT_EQ(wal.Write(FrameHeader(1, 0), 32), SQLITE_OK);
    ASSERT_EQ(wal.Write(Page(1), 32 + 24), SQLITE_OK);
    ASSERT_EQ(wal.Write(FrameHeader(2, 0), 32 + kFrame), SQLITE_OK);
    ASSERT_EQ(wal.Write(Page(2), 32 + kFrame + 24), SQLITE_OK);
    EXPECT_TRUE(OnDisk(wal.path()).empty()) << "frames of an unfinished commit are held";
    ASSERT_EQ(wal.Write(FrameHeader(3, 3), 32 + 2 * kFrame), SQLITE_OK);  // the commit frame
    EXPECT_TRUE(OnDisk(wal.path()).empty()) << "held until the commit frame's page is there";
    ASSERT_EQ(wal.Write(Page(3), 32 + 2 * kFrame + 24), SQLITE_OK);
    const auto disk = OnDisk(wal.path());
    ASSERT_EQ(disk.size(), static_cast<std::size_t>(32 + 3 * kFrame));
    EXPECT_EQ(std::vector<unsigned char>(disk.begin(), disk.begin() + 32), WalHeader());
    EXPECT_EQ(disk[32 + 2 * kFrame + 7], 3) << "the commit frame's database size";
    EXPECT_EQ(disk[32 + 24], 1);
    EXPECT_EQ(disk.back(), 3);
    const auto after = WalWriteStats();
    EXPECT_EQ(after.requested - before.requested, 7u);
    EXPECT_EQ(after.issued - before.issued, 1u) << "one write for the whole commit";

    // Frames of the next transaction are held again, and a sync writes them first.
    ASSERT_EQ(wal.Write(FrameHeader(4, 0), 32 + 3 * kFrame), SQLITE_OK);
    ASSERT_EQ(wal.Write(Page(4), 32 + 3 * kFrame + 24), SQLITE_OK);
    EXPECT_EQ(OnDisk(wal.path()).size(), static_cast<std::size_t>(32 + 3 * kFrame));
    ASSERT_EQ(wal.Sync(), SQLITE_OK);
    EXPECT_EQ(OnDisk(wal.path()).size(), static_cast<std::size_t>(32 + 4 * kFrame));
}

TEST(SqliteWalVfs, WritesItDoesNotUnderstandPassStraightThrough) {
    TempDir dir;
    VfsWalFile wal(dir);
    ASSERT_EQ(wal.open_rc(), SQLITE_OK);
    ASSERT_EQ(wal.Write(WalHeader(), 0), SQLITE_OK);
    ASSERT_EQ(wal.Write(FrameHeader(1, 0), 32), SQLITE_OK);
    // 100 bytes in the middle of a page: not the frame layout. What was held and this write go
    // down now, and so does every later write.
    ASSERT_EQ(wal.Write(std::vector<unsigned char>(100, 7), 32 + 24 + 10), SQLITE_OK);
    auto disk = OnDisk(wal.path());
    ASSERT_EQ(disk.size(), static_cast<std::size_t>(32 + 24 + 10 + 100));
    EXPECT_EQ(disk[32 + 24 + 10], 7);
    const auto before = WalWriteStats();
    ASSERT_EQ(wal.Write(FrameHeader(2, 0), 32 + kFrame), SQLITE_OK);
    EXPECT_EQ(OnDisk(wal.path()).size(), static_cast<std::size_t>(32 + kFrame + 24));
    EXPECT_EQ(WalWriteStats().issued - before.issued, 1u);
}

// synchronous=NORMAL (the default) and FULL (a sync after each commit's frames); a checkpoint
// after each commit, so the log is restarted (a new WAL header) under the VFS each time.
class SqliteWalVfsStore : public ::testing::TestWithParam<const char*> {};

TEST_P(SqliteWalVfsStore, CommitsGoDownInFewWritesAndAreVisibleToOtherConnections) {
    TempDir dir;
    const std::string url = dir.Url("s.db", GetParam());
    auto opened = OpenStore(url);
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    auto reader = OpenStore(url);
    ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
    std::size_t first_wal_bytes = 0;
    for (int round = 0; round < 5; ++round) {
        std::vector<StoredTransaction> txs;
        for (int i = 0; i < 1000; ++i)
            txs.push_back(MakeTx(static_cast<std::uint64_t>(round * 1000 + i + 1),
                                 "r" + std::to_string(round) + "-" + std::to_string(i)));
        const auto before = WalWriteStats();
        auto r = (*opened)->Append(txs, {});
        ASSERT_TRUE(r.has_value()) << r.error().ToString();
        const auto after = WalWriteStats();
        const auto requested = after.requested - before.requested;
        const auto issued = after.issued - before.issued;
        EXPECT_GE(requested, 20u) << "SQLite writes two calls a frame";
        EXPECT_LE(issued * 8, requested) << "requested " << requested << ", issued " << issued;
        EXPECT_EQ(*(*reader)->CountTransactions(), static_cast<std::uint64_t>((round + 1) * 1000));
        auto got = (*reader)->GetTransaction("r" + std::to_string(round) + "-999");
        ASSERT_TRUE(got.has_value());
        EXPECT_TRUE(got->has_value());
        // A completed checkpoint makes the next commit restart the log from its header, so the
        // file stops growing after the first round.
        const std::size_t wal_bytes = OnDisk(dir.File("s.db-wal")).size();
        if (round == 0) first_wal_bytes = wal_bytes;
        EXPECT_LE(wal_bytes, first_wal_bytes + 4 * kFrame) << "round " << round;
        ASSERT_TRUE((*reader)->Checkpoint().has_value());
    }
    RawDb raw(dir.File("s.db"));
    EXPECT_EQ(raw.Exec("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(raw.Exec("SELECT count(*) FROM transactions"), "5000");
}

INSTANTIATE_TEST_SUITE_P(Synchronous, SqliteWalVfsStore,
                         ::testing::Values("", "?synchronous=full"));

// A writer process appends batches and reports each committed one on a pipe; it is killed with
// SIGKILL at an arbitrary point (most likely inside a commit). Every reported batch is there,
// no batch is there in part, and the database is intact.
TEST(SqliteWalVfs, WriterKilledAtAnyMomentLosesNoCommittedBatch) {
    TempDir dir;
    const std::string url = dir.Url("k.db");
    constexpr int kRows = 50;
    for (int attempt = 0; attempt < 3; ++attempt) {
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        const int first_batch = attempt * 100000;
        const pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(fds[0]);
            auto store = OpenStore(url);
            if (!store) _exit(2);
            auto max_seq = (*store)->MaxSeq();
            if (!max_seq) _exit(3);
            std::uint64_t seq = *max_seq;
            for (int b = first_batch;; ++b) {
                std::vector<StoredTransaction> txs;
                for (int i = 0; i < kRows; ++i)
                    txs.push_back(MakeTx(++seq, std::to_string(b) + "-" + std::to_string(i)));
                if (!(*store)->Append(txs, {})) _exit(4);
                if (write(fds[1], &b, sizeof b) != sizeof b) _exit(5);
            }
        }
        ::close(fds[1]);
        std::vector<int> acked;
        int b = 0;
        while (acked.size() < static_cast<std::size_t>(20 + attempt * 15) &&
               read(fds[0], &b, sizeof b) == sizeof b)
            acked.push_back(b);
        kill(pid, SIGKILL);
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ::close(fds[0]);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << status;

        auto store = OpenStore(url);
        ASSERT_TRUE(store.has_value()) << store.error().ToString();
        const std::uint64_t count = *(*store)->CountTransactions();
        EXPECT_EQ(count % kRows, 0u) << "a batch stored in part";
        for (const int a : acked) {
            for (const int i : {0, kRows - 1}) {
                auto got = (*store)->GetTransaction(std::to_string(a) + "-" + std::to_string(i));
                ASSERT_TRUE(got.has_value());
                EXPECT_TRUE(got->has_value()) << "acknowledged batch " << a << " lost";
            }
        }
        RawDb raw(dir.File("k.db"));
        EXPECT_EQ(raw.Exec("PRAGMA integrity_check"), "ok");
    }
}

}  // namespace
}  // namespace txguard
