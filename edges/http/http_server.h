// edges/http/http_server.h: loyaltyd's HTTP/1.1 server (Boost.Beast), with
// keep-alive and Server-Sent Event streams. It only parses, enforces the
// connection limits and writes; what a request means is the handler's
// (HttpApi). Beast lives in http_server.cc alone.
//
// Limits, each answered clearly and counted in /metrics:
//   max_connections     past it a new connection gets 503 and is closed
//   max_header_bytes    431 Request Header Fields Too Large
//   body size           413 Content Too Large (HttpHandler::MaxBodyBytes)
//   idle_timeout        a kept-alive connection waiting this long for its
//                       next request is closed
//   request_timeout     a request must arrive whole, and a response or event
//                       be taken by the client, within this; else the
//                       connection is closed (a client sending one byte a
//                       second holds nothing for long)
//   heartbeat           an event stream idle this long gets a comment line,
//                       so proxies keep it open and a dead client is noticed
//
// TLS (options.tls): the handshake must finish within request_timeout; the
// certificate files are re-read when they change (checked every reload
// interval), new connections get the new certificate. With client CAs, a
// verified client certificate's common name goes with each request
// (HttpRequest::client_cert_cn).
//
// Binding: the port must be free. Linux lets two sockets share a port only
// with SO_REUSEPORT, which this server never sets: a second loyaltyd on the
// same port fails at start instead of taking half the connections.
//
// Thread-safety: Start and Shutdown from one thread; port() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "edges/http/http_exchange.h"
#include "edges/tls/tls_files.h"

namespace loyalty::http {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks one
  size_t threads = 2;
  size_t max_connections = 1024;
  size_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds heartbeat{15'000};
  TlsFiles tls;  // enabled: the port speaks TLS only (files re-read every reload interval)
};

class HttpServer {
 public:
  // Binds and starts serving; UNAVAILABLE naming the address if it cannot
  // bind (in use, not local, no permission). `handler` must outlive it.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler& handler);
  ~HttpServer();

  int port() const { return port_; }
  // Stops accepting, closes idle connections, lets requests in flight finish
  // within `grace` (event streams should have been ended by then: the server
  // drains its watches first), then closes the rest. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace loyalty::http
