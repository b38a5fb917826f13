// edges/http/http_exchange.h: one HTTP request and the ways to answer it,
// without Beast. The server (http_server.h) parses a request into an
// HttpCall and hands it to an HttpHandler (the JSON API, json_api.h); the
// handler answers once, from any thread, with a whole response or by
// starting an event stream (Server-Sent Events).
//
// Thread-safety: `respond` and `start_stream` may be called from any thread,
// one of them once. An EventStream's methods may be called from any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace loyalty::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/members/me/history?page_size=10"
  std::string authorization;
  std::string content_type;
  std::string origin;  // the Origin header (CORS), empty if none
  std::string body;
  std::string peer;    // the client's address, "ipv4:127.0.0.1:51234" (for logs)
  std::string client_cert_cn;  // the verified client certificate's common name (mutual TLS), or empty
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // If set, makes the body on the connection's thread just before it is
  // written (JSON encoding is costly: not on the thread that answers, which
  // may be the WAL-sync thread).
  std::function<std::string()> render;
};

// An open event stream: a response whose body is written piece by piece.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues `data` (whole SSE frames), sent in order; `written(true)` runs
  // once it is sent, `written(false)` if the stream ended first. A client
  // that lets more than kMaxQueuedWrites pile up is cut off.
  static constexpr size_t kMaxQueuedWrites = 8;
  virtual void Write(std::string data, std::function<void(bool)> written) = 0;
  // Ends the body and closes the connection. Idempotent.
  virtual void End() = 0;
  // `closed` runs once, when the stream is over for any reason (End, the
  // client left, the server stopped), on a server thread.
  virtual void OnClosed(std::function<void()> closed) = 0;
};

struct HttpCall {
  HttpRequest request;
  std::function<void(HttpResponse)> respond;
  // Sends `head` (status and headers; its body is ignored) and opens the
  // stream. Null if the connection is gone already.
  std::function<std::shared_ptr<EventStream>(HttpResponse head)> start_stream;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void Handle(HttpCall call) = 0;
  // The largest body this request may carry, decided from its head before
  // the body is read: the backlog takes more than a sale, and only from a
  // caller whose credential may upload one.
  virtual size_t MaxBodyBytes(const std::string& method, const std::string& target,
                              const std::string& authorization) const = 0;
};

}  // namespace loyalty::http
