#pragma once
// A minimal blocking HTTP/1.1 client for the integration tests (keep-alive, Content-Length bodies
// only: what txguard serve sends). Not a general client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace txguard::testing {

struct HttpResult {
    int status = 0;  // 0: connection failed or closed
    std::string body;
};

class HttpClient {
  public:
    explicit HttpClient(std::uint16_t port) : port_(port) {}
    ~HttpClient() { Close(); }
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    HttpResult Request(std::string_view method, std::string_view target,
                       std::string_view body = {}) {
        if (fd_ < 0 && !Connect()) return {};
        std::string req;
        req.reserve(128 + body.size());
        req += method;
        req += ' ';
        req += target;
        req += " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ";
        req += std::to_string(body.size());
        req += "\r\n\r\n";
        req += body;
        if (!SendAll(req)) return Fail();
        // Headers.
        std::size_t header_end;
        while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos)
            if (!ReadMore()) return Fail();
        HttpResult r;
        if (buf_.size() < 12) return Fail();
        r.status = std::stoi(buf_.substr(9, 3));
        std::size_t length = 0;
        const std::string headers = buf_.substr(0, header_end);
        for (std::size_t pos = 0; pos < headers.size();) {
            std::size_t eol = headers.find("\r\n", pos);
            if (eol == std::string::npos) eol = headers.size();
            std::string line = headers.substr(pos, eol - pos);
            for (auto& c : line)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (line.rfind("content-length:", 0) == 0) length = std::stoul(line.substr(15));
            pos = eol + 2;
        }
        const bool close = headers.find("Connection: close") != std::string::npos ||
                           headers.find("connection: close") != std::string::npos;
        while (buf_.size() < header_end + 4 + length)
            if (!ReadMore()) return Fail();
        r.body = buf_.substr(header_end + 4, length);
        buf_.erase(0, header_end + 4 + length);
        if (close) Close();
        return r;
    }

    void Close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
    }

  private:
    bool Connect() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) return false;
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port_);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            Close();
            return false;
        }
        return true;
    }
    bool SendAll(std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    bool ReadMore() {
        char tmp[16384];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
    HttpResult Fail() {
        Close();
        return {};
    }

    std::uint16_t port_;
    int fd_ = -1;
    std::string buf_;
};

}  // namespace txguard::testing
