// tests/support/http_client.h: a small blocking HTTP/1.1 client over a plain
// loopback socket, for tests of the HTTP edge. Deliberately not Beast: the
// tests speak the protocol as a foreign client would, and can also misbehave
// (send one byte at a time, send oversized headers, hold idle connections).
//
// Not thread-safe: one client per thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace loyalty::testing {

struct HttpReply {
  int status = 0;  // 0: the connection closed before an answer
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(int port) : port_(port) {}
  ~HttpClient() { Close(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool Connect() {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Close();
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    buffer_.clear();
    return true;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return fd_ >= 0; }

  // Sends a request (connecting first if needed) and reads the answer.
  HttpReply Send(const std::string& method, const std::string& target, const std::string& token = "",
                 const std::string& body = "", std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (fd_ < 0 && !Connect()) return {};
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    for (auto& [k, v] : headers) request += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    if (!SendRaw(request)) return {};
    return ReadReply(std::chrono::seconds(10));
  }

  bool SendRaw(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads a response head and its body (Content-Length; or, for a chunked
  // body, nothing: read it with ReadChunk).
  HttpReply ReadReply(std::chrono::milliseconds timeout) {
    HttpReply reply;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(timeout)) return reply;
    }
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    reply.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      const std::string line = head.substr(pos, next - pos);
      const size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      reply.headers[name] = value;
      pos = next + 2;
    }
    if (reply.Header("transfer-encoding") == "chunked") return reply;
    const size_t length = reply.headers.count("content-length") ? std::stoul(reply.Header("content-length")) : 0;
    while (buffer_.size() < length) {
      if (!Fill(timeout)) return reply;
    }
    reply.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    if (reply.Header("connection") == "close") Close();
    return reply;
  }

  // The next chunk of a chunked body; nullopt on timeout or close, "" for
  // the last chunk.
  std::optional<std::string> ReadChunk(std::chrono::milliseconds timeout) {
    size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (!Fill(timeout)) return std::nullopt;
    }
    const size_t size = std::stoul(buffer_.substr(0, end), nullptr, 16);
    while (buffer_.size() < end + 2 + size + 2) {
      if (!Fill(timeout)) return std::nullopt;
    }
    std::string data = buffer_.substr(end + 2, size);
    buffer_.erase(0, end + 2 + size + 2);
    return data;
  }

  // True once the server closed the connection (read returns 0 or fails)
  // within `timeout`.
  bool ClosedByServer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (::poll(&p, 1, std::max(1, left)) <= 0) continue;
      char c[4096];
      const ssize_t n = ::recv(fd_, c, sizeof c, 0);
      if (n <= 0) return true;
      buffer_.append(c, static_cast<size_t>(n));
    }
    return false;
  }

  const std::string& buffered() const { return buffer_; }

 private:
  bool Fill(std::chrono::milliseconds timeout) {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char c[65536];
    const ssize_t n = ::recv(fd_, c, sizeof c, 0);
    if (n <= 0) {
      Close();
      return false;
    }
    buffer_.append(c, static_cast<size_t>(n));
    return true;
  }

  const int port_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace loyalty::testing
