#pragma once
// A real, private PostgreSQL server for tests (no mocks). The constructor creates a temporary
// directory, runs initdb (user `txguard`, password auth over TCP, trust over the unix socket),
// and starts postgres listening on 127.0.0.1 on a free port, with its unix socket in the
// temporary directory and fast, non-durable settings (fsync=off, synchronous_commit=off: tests
// only). The destructor stops it (immediate mode) and removes the directory.
//
// Binaries: `pg_config --bindir`, else /usr/lib/postgresql/15/bin. PostgreSQL refuses to run as
// root: when geteuid() == 0 the server commands run as the `postgres` system user
// (`runuser -u postgres --`) and the directory is chowned to it.
//
// Nothing here throws or asserts: check ok() and report error(); a missing PostgreSQL
// installation is an error that says to run scripts/setup.sh.
//
//   txguard::test::PostgresServer pg;
//   ASSERT_TRUE(pg.ok()) << pg.error();
//   auto url = pg.CreateDatabase("t1");   // postgresql://txguard:...@127.0.0.1:PORT/t1
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace txguard::test {

class PostgresServer {
  public:
    static constexpr const char* kUser = "txguard";
    static constexpr const char* kPassword = "pg-test-secret";

    PostgresServer() { Start(); }
    ~PostgresServer() { Stop(); }
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    int port() const { return port_; }
    const std::string& bindir() const { return bindir_; }

    // URL of database `db` (need not exist) with the given password.
    std::string Url(const std::string& db = "postgres", const std::string& password = kPassword,
                    const std::string& query = "") const {
        return "postgresql://" + std::string(kUser) + ":" + password +
               "@127.0.0.1:" + std::to_string(port_) + "/" + db + query;
    }

    // Creates database `db`; returns its URL, or "" (and sets error()) on failure.
    std::string CreateDatabase(const std::string& db) {
        if (!ok()) return "";
        if (!RunClient("createdb", "'" + db + "'")) return "";
        return Url(db);
    }

    // Runs one SQL command through psql in database `db`; returns its output (tuples only), or
    // sets error() on failure.
    std::string Psql(const std::string& db, const std::string& sql) {
        std::ofstream(dir_ + "/cmd.sql") << sql << "\n";
        const std::string out = dir_ + "/psql.out";
        if (!RunClient("psql", "-X -q -t -A -v ON_ERROR_STOP=1 -d '" + db + "' -f '" + dir_ +
                                   "/cmd.sql' -o '" + out + "'")) {
            return "";
        }
        std::string text = ReadFile(out);
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        return text;
    }

  private:
    static std::string ReadFile(const std::string& path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    static std::string Tail(const std::string& text, std::size_t n = 2000) {
        return text.size() <= n ? text : "..." + text.substr(text.size() - n);
    }

    static int FreePort() {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return -1;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        int port = -1;
        if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port = ntohs(addr.sin_port);
        }
        close(fd);
        return port;
    }

    static std::string FindBindir() {
        std::string dir;
        if (FILE* p = popen("pg_config --bindir 2>/dev/null", "r")) {
            char buf[512];
            while (fgets(buf, sizeof buf, p) != nullptr) dir += buf;
            pclose(p);
        }
        while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) dir.pop_back();
        auto has_server = [](const std::string& d) {
            return !d.empty() && std::filesystem::exists(d + "/initdb") &&
                   std::filesystem::exists(d + "/pg_ctl") &&
                   std::filesystem::exists(d + "/postgres");
        };
        if (has_server(dir)) return dir;
        if (has_server("/usr/lib/postgresql/15/bin")) return "/usr/lib/postgresql/15/bin";
        return "";
    }

    // Runs a server command (as `postgres` when root); output goes to dir_/cmd.log.
    bool RunServer(const std::string& program, const std::string& args) {
        const std::string cmd = (as_root_ ? "runuser -u postgres -- " : "") + bindir_ + "/" +
                                program + " " + args + " > '" + dir_ + "/cmd.log' 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            error_ = program + " failed: " + cmd + "\n" + Tail(ReadFile(dir_ + "/cmd.log"));
            return false;
        }
        return true;
    }

    // Runs a client program over the unix socket (trust auth), as the current user.
    bool RunClient(const std::string& program, const std::string& args) {
        const std::string cmd = bindir_ + "/" + program + " -h '" + dir_ + "' -p " +
                                std::to_string(port_) + " -U " + kUser + " " + args + " > '" +
                                dir_ + "/client.log' 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            error_ = program + " failed: " + cmd + "\n" + Tail(ReadFile(dir_ + "/client.log"));
            return false;
        }
        return true;
    }

    void Start() {
        bindir_ = FindBindir();
        if (bindir_.empty()) {
            error_ =
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via "
                "`pg_config --bindir` or in /usr/lib/postgresql/15/bin: run scripts/setup.sh "
                "(it installs postgresql)";
            return;
        }
        std::string tmpl = "/tmp/txguard_pg_XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) {
            error_ = "cannot create a temporary directory for PostgreSQL";
            return;
        }
        dir_ = tmpl;
        as_root_ = geteuid() == 0;
        std::ofstream(dir_ + "/pwfile") << kPassword << "\n";
        if (as_root_) {
            const passwd* pw = getpwnam("postgres");
            if (pw == nullptr) {
                error_ =
                    "running as root and there is no `postgres` user to run PostgreSQL as: "
                    "run scripts/setup.sh (it installs postgresql)";
                return;
            }
            const std::string chown = "chown -R postgres '" + dir_ + "'";
            if (std::system(chown.c_str()) != 0) {
                error_ = "cannot chown " + dir_ + " to postgres";
                return;
            }
        }
        if (!RunServer("initdb", "-D '" + dir_ + "/data' -U " + std::string(kUser) + " --pwfile='" +
                                     dir_ +
                                     "/pwfile' -E UTF8 --no-locale --no-sync"
                                     " --auth-local=trust --auth-host=scram-sha-256")) {
            return;
        }
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = FreePort();
            const std::string options = "-c listen_addresses=127.0.0.1 -p " +
                                        std::to_string(port_) +
                                        " -c unix_socket_directories=" + dir_ +
                                        " -c fsync=off -c synchronous_commit=off"
                                        " -c full_page_writes=off -c max_connections=60"
                                        " -c shared_buffers=64MB";
            if (RunServer("pg_ctl", "-D '" + dir_ + "/data' -l '" + dir_ +
                                        "/server.log' -w -t 60 -o \"" + options + "\" start")) {
                started_ = true;
                error_.clear();
                return;
            }
            error_ += "\nserver log:\n" + Tail(ReadFile(dir_ + "/server.log"));
        }
    }

    void Stop() {
        if (started_) {
            RunServer("pg_ctl", "-D '" + dir_ + "/data' -m immediate -w -t 60 stop");
            started_ = false;
        }
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    std::string bindir_;
    std::string dir_;
    std::string error_;
    int port_ = -1;
    bool as_root_ = false;
    bool started_ = false;
};

}  // namespace txguard::test
