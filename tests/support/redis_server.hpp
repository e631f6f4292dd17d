#pragma once
// A real redis-server for tests: started on a free 127.0.0.1 port with no persistence, in a
// temporary directory, stopped (SIGTERM, then SIGKILL) when the object goes. Tests FAIL when
// redis-server is missing (scripts/setup.sh installs it).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace txguard::testing {

inline int FreeTcpPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

inline bool TcpConnects(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

inline std::string FindRedisServer() {
    for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
        if (::access(p, X_OK) == 0) return p;
    return "";
}

class RedisServer {
  public:
    RedisServer() {
        const std::string bin = FindRedisServer();
        if (bin.empty()) {
            ADD_FAILURE() << "redis-server not found: run scripts/setup.sh (it installs "
                             "redis-server)";
            return;
        }
        dir_ = std::filesystem::temp_directory_path() /
               ("txg_redis_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        port_ = FreeTcpPort();
        const std::string port = std::to_string(port_);
        const std::string dir = dir_.string();
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
            ::execl(bin.c_str(), bin.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", dir.c_str(), "--loglevel",
                    "warning", "--logfile", (dir + "/redis.log").c_str(), "--daemonize", "no",
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        for (int i = 0; i < 500 && !TcpConnects(port_); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (!TcpConnects(port_)) ADD_FAILURE() << "redis-server did not start on port " << port_;
    }
    ~RedisServer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int st = 0;
            for (int i = 0; i < 300; ++i) {
                if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                    pid_ = -1;
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            if (pid_ > 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &st, 0);
            }
        }
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    bool ok() const { return pid_ > 0 && TcpConnects(port_); }
    int port() const { return port_; }
    std::string Url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  private:
    static int& counter() {
        static int c = 0;
        return c;
    }
    std::filesystem::path dir_;
    pid_t pid_ = -1;
    int port_ = 0;
};

}  // namespace txguard::testing
