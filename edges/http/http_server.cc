#include "edges/http/http_server.h"

#include <pthread.h>

#include <array>
#include <cassert>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <sys/stat.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/str_cat.h"

namespace loyalty::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

metrics::CounterFamily& ConnectionEvents() {
  static auto& f = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_http_connection_events_total",
      "HTTP connections accepted, refused (over max_connections) and cut (timeouts, limits)", {"event"});
  return f;
}

std::string CannedError(int status, std::string_view reason, std::string_view code, int grpc_code,
                        std::string_view message, std::string_view extra_headers = "") {
  const std::string body = loyalty::StrCat("{\"code\":", grpc_code, ",\"status\":\"", code, "\",\"message\":\"",
                                           message, "\"}");
  return loyalty::StrCat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Type: application/json\r\nContent-Length: ",
                         body.size(), "\r\nConnection: close\r\n", extra_headers, "\r\n", body);
}

absl::StatusOr<tcp::endpoint> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(loyalty::StrCat("http_listen: '", listen, "' is not HOST:PORT"));
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError(loyalty::StrCat("http_listen: '", host, "' is not an IP address"));
  const std::string port_text = listen.substr(colon + 1);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return absl::InvalidArgumentError(loyalty::StrCat("http_listen: bad port '", port_text, "'"));
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

// The TLS context new connections get, rebuilt when the files change
// (checked every reload interval); a connection keeps the context it began
// with.
class TlsContexts {
 public:
  explicit TlsContexts(TlsFiles files) : files_(std::move(files)) {}

  // Builds the first context: an error (bad file, key not matching) stops
  // the start.
  absl::Status Load() {
    auto built = Build();
    if (!built.ok()) return built.status();
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(*built);
    stamp_ = Stamp();
    return absl::OkStatus();
  }
  std::shared_ptr<asio::ssl::context> Current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  // Rebuilds if a file changed; a bad new file keeps the old context.
  void ReloadIfChanged() {
    const std::string stamp = Stamp();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stamp == stamp_) return;
    }
    auto built = Build();
    if (!built.ok()) {
      LogError(loyalty::StrCat("http: TLS files changed but cannot be used (the old ones stay): ", built.status().message()));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(*built);
    stamp_ = stamp;
    LogInfo("http: TLS certificate reloaded");
  }
  const TlsFiles& files() const { return files_; }

 private:
  // Size and modification time of every file.
  std::string Stamp() const {
    std::string out;
    for (const std::string* f : {&files_.cert_chain_file, &files_.private_key_file, &files_.client_ca_file}) {
      struct stat st {};
      if (!f->empty() && stat(f->c_str(), &st) == 0) {
        out += loyalty::StrCat(st.st_size, ".", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ";");
      }
    }
    return out;
  }
  absl::StatusOr<std::shared_ptr<asio::ssl::context>> Build() const {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    boost::system::error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1,
                     ec);
    if (!ec) ctx->use_certificate_chain_file(files_.cert_chain_file, ec);
    if (ec) return absl::InvalidArgumentError(loyalty::StrCat("tls.cert_chain_file: ", files_.cert_chain_file, ": ", ec.message()));
    ctx->use_private_key_file(files_.private_key_file, asio::ssl::context::pem, ec);
    if (ec) return absl::InvalidArgumentError(loyalty::StrCat("tls.private_key_file: ", files_.private_key_file, ": ", ec.message()));
    if (files_.mutual()) {
      ctx->load_verify_file(files_.client_ca_file, ec);
      if (ec) return absl::InvalidArgumentError(loyalty::StrCat("tls.client_ca_file: ", files_.client_ca_file, ": ", ec.message()));
      // Asked for, verified when sent, not required: members' apps send none.
      ctx->set_verify_mode(asio::ssl::verify_peer, ec);
    }
    return ctx;
  }

  const TlsFiles files_;
  mutable std::mutex mu_;
  std::shared_ptr<asio::ssl::context> current_;
  std::string stamp_;
};

// The verified client certificate's subject common name, or empty.
std::string ClientCertificateName(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return "";
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string cn;
  X509_NAME* subject = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (i >= 0) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    cn.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)), ASN1_STRING_length(data));
  }
  X509_free(cert);
  return cn;
}

}  // namespace

// What the server holds of a connection, whatever its transport.
class Session {
 public:
  virtual ~Session() = default;
  virtual void CloseIfIdle() = 0;
  virtual void ForceClose() = 0;
  // Event streams (called from any thread; work goes to the strand).
  virtual void StreamWrite(std::string data, std::function<void(bool)> written) = 0;
  virtual void StreamEnd() = 0;
  virtual void StreamOnClosed(std::function<void()> closed) = 0;
};
template <class Stream>
class BasicSession;

class HttpServer::Impl {
  // Declared first, destroyed last: sessions still queued in ioc_ when it is
  // destroyed unregister through them.
  std::mutex mu_;
  std::set<Session*> sessions_;
  std::vector<std::weak_ptr<Session>> weak_sessions_;  // for Shutdown
  std::atomic<size_t> connections_{0};

 public:
  Impl(const HttpServerOptions& options, HttpHandler& handler)
      : options_(options), handler_(handler), ioc_(static_cast<int>(options.threads)), acceptor_(ioc_) {}

  absl::Status LoadTls();
  absl::Status Listen(int& port);
  void Run();
  void Shutdown(std::chrono::milliseconds grace);

  // Sessions register so Shutdown can reach them.
  void Add(const std::shared_ptr<Session>& s);
  void Remove(Session* s);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  const HttpServerOptions options_;
  HttpHandler& handler_;
  asio::io_context ioc_;

 private:
  void Accept();
  void Refuse(tcp::socket socket);
  void WatchTlsFiles();

  std::unique_ptr<TlsContexts> tls_;  // null: plaintext
  std::optional<asio::steady_timer> tls_reload_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  bool shut_down_ = false;
  template <class Stream>
  friend class BasicSession;
};

// One connection: reads requests one after another, hands each to the
// handler, writes its answer; or, after start_stream, an event stream until
// it ends. Everything runs on the connection's strand. `Stream` is
// beast::tcp_stream (plaintext) or an ssl_stream over one (TLS: the
// handshake comes first, within the request timeout).
template <class Stream>
class BasicSession final : public Session, public std::enable_shared_from_this<BasicSession<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using std::enable_shared_from_this<BasicSession<Stream>>::shared_from_this;
  using std::enable_shared_from_this<BasicSession<Stream>>::weak_from_this;

 public:
  BasicSession(HttpServer::Impl& server, tcp::socket socket)
    requires(!kTls)
      : server_(server), peer_(PeerOf(socket)), stream_(std::move(socket)),
        buffer_(std::max<size_t>(16 << 10, server.options_.max_header_bytes + 4096)) {}
  BasicSession(HttpServer::Impl& server, tcp::socket socket, std::shared_ptr<asio::ssl::context> tls)
    requires(kTls)
      : server_(server), peer_(PeerOf(socket)), tls_(std::move(tls)), stream_(std::move(socket), *tls_),
        buffer_(std::max<size_t>(16 << 10, server.options_.max_header_bytes + 4096)) {}
  ~BasicSession() override {
    server_.Remove(this);
    if (closed_callback_) closed_callback_();
  }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->WaitForRequest();
      }
    });
  }

  // From Shutdown: close now if waiting for a request; else after the
  // current answer (keep-alive is off once the server stops).
  void CloseIfIdle() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::kIdle) self->Close();
    });
  }
  void ForceClose() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

  void StreamWrite(std::string data, std::function<void(bool)> written) override;
  void StreamEnd() override;
  void StreamOnClosed(std::function<void()> closed) override;

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kStreaming, kClosed };

  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }
  void Handshake();

  void WaitForRequest();
  void ReadHeader();
  void ReadBody();
  void Dispatch();
  void WriteResponse(HttpResponse response);
  void WriteCanned(std::string text);
  void RefuseBody(size_t limit);  // 413
  size_t BodyLimit() const;        // for the request whose head was read
  void DrainThenClose(size_t budget);
  // After a refusal: how long and how much of the client's rest is read.
  static constexpr std::chrono::milliseconds kLinger{1000};
  static constexpr size_t kMaxLingerBytes = 4 << 20;
  void Close();
  std::shared_ptr<EventStream> StartStream(HttpResponse head);
  void StreamPump();
  void StreamHeartbeat();
  void StreamWatchPeer();
  void EndStreamNow();

  HttpServer::Impl& server_;
  // The client's address as gRPC writes it, "ipv4:127.0.0.1:51234" (for
  // logs), read once per connection.
  static std::string PeerOf(const tcp::socket& socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) return "";
    const bool v6 = remote.address().is_v6();
    return loyalty::StrCat(v6 ? "ipv6:[" : "ipv4:", remote.address().to_string(), v6 ? "]:" : ":", remote.port());
  }
  const std::string peer_;
  std::shared_ptr<asio::ssl::context> tls_;  // kTls: the context this connection began with
  Stream stream_;
  std::string client_cert_cn_;  // kTls: of the verified client certificate
  beast::flat_buffer buffer_;  // bounded: the header limit and a little
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  State state_ = State::kIdle;
  bool keep_alive_ = true;
  bool head_only_ = false;

  // Event stream: frames in order, one write at a time.
  struct Frame {
    std::string bytes;
    std::function<void(bool)> written;
  };
  std::deque<Frame> frames_;
  bool frame_in_flight_ = false;
  bool stream_ending_ = false;
  std::function<void()> closed_callback_;
  std::optional<asio::steady_timer> heartbeat_;
  char peer_byte_[4096];
};

namespace {

// The EventStream a handler gets: a handle on its session.
class SessionStream final : public EventStream {
 public:
  explicit SessionStream(std::weak_ptr<Session> session) : session_(std::move(session)) {}
  void Write(std::string data, std::function<void(bool)> written) override {
    if (auto s = session_.lock()) {
      s->StreamWrite(std::move(data), std::move(written));
    } else if (written) {
      written(false);
    }
  }
  void End() override {
    if (auto s = session_.lock()) s->StreamEnd();
  }
  void OnClosed(std::function<void()> closed) override {
    if (auto s = session_.lock()) {
      s->StreamOnClosed(std::move(closed));
    } else {
      closed();
    }
  }

 private:
  std::weak_ptr<Session> session_;
};

std::string Chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return loyalty::StrCat(size, data, "\r\n");
}

}  // namespace

template <class Stream>
void BasicSession<Stream>::Handshake() {
  if constexpr (kTls) {
    state_ = State::kReading;
    Tcp().expires_after(server_.options_.request_timeout);
    stream_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        ConnectionEvents().WithLabels({ec == beast::error::timeout ? "tls_handshake_timeout" : "tls_handshake_failed"}).Inc();
        return self->Close();
      }
      self->client_cert_cn_ = ClientCertificateName(self->stream_.native_handle());
      self->WaitForRequest();
    });
  }
}

template <class Stream>
void BasicSession<Stream>::WaitForRequest() {
  if (server_.stopping()) return Close();
  state_ = State::kIdle;
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(server_.options_.max_header_bytes));
  // The body's limit depends on the route and the caller, known only once
  // the head is read (ReadHeader sets it); Beast would otherwise check a
  // Content-Length against its 1 MiB default while parsing the head.
  parser_->body_limit(boost::none);
  if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is here already
  // Idle: wait for the first bytes of the next request.
  Tcp().expires_after(server_.options_.idle_timeout);
  stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
    if (ec) {
      if (ec == beast::error::timeout) ConnectionEvents().WithLabels({"idle_timeout"}).Inc();
      return self->Close();
    }
    self->buffer_.commit(n);
    self->ReadHeader();
  });
}

template <class Stream>
void BasicSession<Stream>::ReadHeader() {
  state_ = State::kReading;
  // From the first byte, the whole request must come within the timeout.
  Tcp().expires_after(server_.options_.request_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec == bhttp::error::header_limit) {
      ConnectionEvents().WithLabels({"header_too_large"}).Inc();
      return self->WriteCanned(CannedError(431, "Request Header Fields Too Large", "INVALID_ARGUMENT", 3,
                                           loyalty::StrCat("headers: at most ", self->server_.options_.max_header_bytes,
                                                           " bytes")));
    }
    if (ec == bhttp::error::body_limit) return self->RefuseBody(self->BodyLimit());
    if (ec == beast::error::timeout) {
      ConnectionEvents().WithLabels({"request_timeout"}).Inc();
      return self->Close();
    }
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) {
      return self->Close();
    }
    if (ec) {
      return self->WriteCanned(CannedError(400, "Bad Request", "INVALID_ARGUMENT", 3,
                                           loyalty::StrCat("request: unreadable HTTP (", ec.message(), ")")));
    }
    const auto& head = self->parser_->get();
    const size_t limit = self->BodyLimit();
    // Beast checks a Content-Length against the limit while it parses the
    // head, before this route's limit is known: check it here. (Chunked
    // bodies are checked as they arrive, against the limit set now.)
    const auto length = self->parser_->content_length();
    if (length && *length > limit) return self->RefuseBody(limit);
    self->parser_->body_limit(limit);
    self->ReadBody();
  });
}

template <class Stream>
void BasicSession<Stream>::ReadBody() {
  bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec == bhttp::error::body_limit) {
      return self->RefuseBody(self->BodyLimit());
    }
    if (ec == beast::error::timeout) {
      ConnectionEvents().WithLabels({"request_timeout"}).Inc();
      return self->Close();
    }
    if (ec) {
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof) return self->Close();
      return self->WriteCanned(CannedError(400, "Bad Request", "INVALID_ARGUMENT", 3,
                                           loyalty::StrCat("request: unreadable HTTP (", ec.message(), ")")));
    }
    self->Dispatch();
  });
}

template <class Stream>
size_t BasicSession<Stream>::BodyLimit() const {
  const auto& head = parser_->get();
  return server_.handler_.MaxBodyBytes(std::string(head.method_string()), std::string(head.target()),
                                       std::string(head[bhttp::field::authorization]));
}

template <class Stream>
void BasicSession<Stream>::RefuseBody(size_t limit) {
  ConnectionEvents().WithLabels({"body_too_large"}).Inc();
  WriteCanned(CannedError(413, "Content Too Large", "INVALID_ARGUMENT", 3,
                          loyalty::StrCat("body: at most ", limit, " bytes on this route")));
}

template <class Stream>
void BasicSession<Stream>::Dispatch() {
  state_ = State::kHandling;
  Tcp().expires_never();  // the handler's time is not the client's
  bhttp::request<bhttp::string_body> request = parser_->release();
  keep_alive_ = request.keep_alive();
  head_only_ = request.method() == bhttp::verb::head;
  HttpCall call;
  call.request.method = std::string(request.method_string());
  if (head_only_) call.request.method = "GET";
  call.request.target = std::string(request.target());
  call.request.authorization = std::string(request[bhttp::field::authorization]);
  call.request.content_type = std::string(request[bhttp::field::content_type]);
  call.request.origin = std::string(request[bhttp::field::origin]);
  call.request.body = std::move(request.body());
  call.request.peer = peer_;
  call.request.client_cert_cn = client_cert_cn_;
  // The answer holds the session: while the handler works, no read or
  // write is pending on it to keep it alive.
  auto self = shared_from_this();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  call.respond = [self, answered](HttpResponse response) {
    const bool first = !answered->exchange(true);
    assert(first);  // a handler answers once
    if (!first) return;
    // On the strand already (a handler that answered at once): no hand-off.
    asio::dispatch(self->stream_.get_executor(),
                   [self, response = std::move(response)]() mutable { self->WriteResponse(std::move(response)); });
  };
  call.start_stream = [self, answered](HttpResponse head) -> std::shared_ptr<EventStream> {
    const bool first = !answered->exchange(true);
    assert(first);
    if (!first || self->state_ == State::kClosed) return nullptr;
    if (self->head_only_) {  // HEAD: the head of the stream, and no stream
      asio::dispatch(self->stream_.get_executor(),
                     [self, head = std::move(head)]() mutable { self->WriteResponse(std::move(head)); });
      return nullptr;
    }
    return self->StartStream(std::move(head));
  };
  server_.handler_.Handle(std::move(call));
}

template <class Stream>
void BasicSession<Stream>::WriteResponse(HttpResponse r) {
  if (state_ == State::kClosed) return;
  state_ = State::kWriting;
  auto response = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status), 11);
  response->set(bhttp::field::server, "loyaltyd");
  if (!r.content_type.empty()) response->set(bhttp::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers) response->insert(name, value);
  response->body() = r.render ? r.render() : std::move(r.body);
  response->keep_alive(keep_alive_ && !server_.stopping());
  response->prepare_payload();
  if (head_only_) response->body().clear();  // Content-Length stays the GET's
  Tcp().expires_after(server_.options_.request_timeout);
  bhttp::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, size_t) {
    if (ec) {
      if (ec == beast::error::timeout) ConnectionEvents().WithLabels({"write_timeout"}).Inc();
      return self->Close();
    }
    if (!response->keep_alive()) return self->Close();
    self->WaitForRequest();
  });
}

template <class Stream>
void BasicSession<Stream>::WriteCanned(std::string text) {
  state_ = State::kWriting;
  auto bytes = std::make_shared<std::string>(std::move(text));
  Tcp().expires_after(server_.options_.request_timeout);
  asio::async_write(stream_, asio::buffer(*bytes), [self = shared_from_this(), bytes](beast::error_code ec, size_t) {
    if (ec) return self->Close();
    // Closing with the client's unread bytes (the rest of a refused body)
    // in the socket would reset the connection, and the client could lose
    // this answer: end our side, then read and drop what still comes, for
    // a bounded time and amount.
    beast::error_code ignored;
    self->Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    self->Tcp().expires_after(kLinger);  // once: a trickle does not extend it
    self->DrainThenClose(kMaxLingerBytes);
  });
}

template <class Stream>
void BasicSession<Stream>::DrainThenClose(size_t budget) {
  stream_.async_read_some(asio::buffer(peer_byte_), [self = shared_from_this(), budget](beast::error_code ec, size_t n) {
    if (ec || n >= budget) return self->Close();
    self->DrainThenClose(budget - n);
  });
}

template <class Stream>
void BasicSession<Stream>::Close() {
  if (state_ == State::kClosed) return;
  const bool was_streaming = state_ == State::kStreaming;
  state_ = State::kClosed;
  beast::error_code ec;
  Tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
  Tcp().close();
  if (heartbeat_) heartbeat_->cancel();
  if (was_streaming) {
    std::deque<Frame> frames;
    frames.swap(frames_);
    for (auto& f : frames) {
      if (f.written) f.written(false);
    }
  }
  if (closed_callback_) {
    auto closed = std::move(closed_callback_);
    closed_callback_ = nullptr;
    closed();
  }
}

template <class Stream>
std::shared_ptr<EventStream> BasicSession<Stream>::StartStream(HttpResponse head) {
  // Called on the strand (the handler runs in Dispatch) or from another
  // thread: the head goes out as the stream's first frame either way.
  std::string bytes = loyalty::StrCat("HTTP/1.1 ", head.status, " OK\r\nServer: loyaltyd\r\nContent-Type: ",
                                      head.content_type, "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n");
  for (auto& [name, value] : head.headers) bytes += loyalty::StrCat(name, ": ", value, "\r\n");
  bytes += "\r\n";
  auto self = shared_from_this();
  asio::dispatch(stream_.get_executor(), [self, bytes = std::move(bytes)]() mutable {
    if (self->state_ == State::kClosed) return;
    self->state_ = State::kStreaming;
    self->frames_.push_front(Frame{std::move(bytes), nullptr});
    self->heartbeat_.emplace(self->stream_.get_executor());
    self->StreamHeartbeat();
    self->StreamWatchPeer();
    self->StreamPump();
  });
  return std::make_shared<SessionStream>(weak_from_this());
}

template <class Stream>
void BasicSession<Stream>::StreamWrite(std::string data, std::function<void(bool)> written) {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this(), data = std::move(data),
                                          written = std::move(written)]() mutable {
    if (self->state_ == State::kClosed || self->stream_ending_) {
      if (written) written(false);
      return;
    }
    if (self->frames_.size() >= EventStream::kMaxQueuedWrites) {
      // The client does not take what it asked for.
      ConnectionEvents().WithLabels({"stream_overflow"}).Inc();
      if (written) written(false);
      return self->Close();
    }
    self->frames_.push_back(Frame{Chunk(data), std::move(written)});
    self->StreamPump();
  });
}

template <class Stream>
void BasicSession<Stream>::StreamEnd() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->state_ == State::kClosed || self->stream_ending_) return;
    self->stream_ending_ = true;
    self->frames_.push_back(Frame{"0\r\n\r\n", nullptr});  // the last chunk
    self->StreamPump();
  });
}

template <class Stream>
void BasicSession<Stream>::StreamOnClosed(std::function<void()> closed) {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this(), closed = std::move(closed)]() mutable {
    if (self->state_ == State::kClosed) return closed();
    self->closed_callback_ = std::move(closed);
  });
}

template <class Stream>
void BasicSession<Stream>::StreamPump() {
  if (state_ != State::kStreaming || frame_in_flight_) return;
  if (frames_.empty()) {
    if (stream_ending_) Close();
    return;
  }
  frame_in_flight_ = true;
  Tcp().expires_after(server_.options_.request_timeout);
  asio::async_write(stream_, asio::buffer(frames_.front().bytes), [self = shared_from_this()](beast::error_code ec, size_t) {
    self->frame_in_flight_ = false;
    self->Tcp().expires_never();  // idle between events is fine
    if (self->state_ == State::kClosed) return;
    Frame done = std::move(self->frames_.front());
    self->frames_.pop_front();
    if (ec) {
      if (done.written) done.written(false);
      return self->Close();
    }
    if (done.written) done.written(true);
    self->StreamPump();
  });
}

template <class Stream>
void BasicSession<Stream>::StreamHeartbeat() {
  heartbeat_->expires_after(server_.options_.heartbeat);
  heartbeat_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->state_ != State::kStreaming) return;
    if (self->frames_.empty() && !self->stream_ending_) {
      self->frames_.push_back(Frame{Chunk(": heartbeat\n\n"), nullptr});
      self->StreamPump();
    }
    self->StreamHeartbeat();
  });
}

template <class Stream>
void BasicSession<Stream>::StreamWatchPeer() {
  // A client that leaves closes its side: the read ends, the stream ends.
  // The raw socket, so the stream's write timeouts do not apply to it
  // (TLS must read through its stream: a write timeout then ends this
  // read too, and the connection with it, as it would anyway).
  auto on_read = [self = shared_from_this()](beast::error_code ec, size_t) {
    if (self->state_ != State::kStreaming) return;
    if (ec) return self->Close();
    self->StreamWatchPeer();  // bytes after the request are ignored
  };
  if constexpr (kTls) {
    stream_.async_read_some(asio::buffer(peer_byte_), std::move(on_read));
  } else {
    Tcp().socket().async_read_some(asio::buffer(peer_byte_), std::move(on_read));
  }
}

absl::Status HttpServer::Impl::LoadTls() {
  if (!options_.tls.enabled()) return absl::OkStatus();
  tls_ = std::make_unique<TlsContexts>(options_.tls);
  if (absl::Status loaded = tls_->Load(); !loaded.ok()) return loaded;
  tls_reload_.emplace(ioc_);
  WatchTlsFiles();
  return absl::OkStatus();
}

void HttpServer::Impl::WatchTlsFiles() {
  tls_reload_->expires_after(std::chrono::seconds(std::max(1u, options_.tls.reload_interval_s)));
  tls_reload_->async_wait([this](beast::error_code ec) {
    if (ec || stopping()) return;
    tls_->ReloadIfChanged();
    WatchTlsFiles();
  });
}

absl::Status HttpServer::Impl::Listen(int& port) {
  auto endpoint = ParseListen(options_.listen);
  if (!endpoint.ok()) return endpoint.status();
  boost::system::error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  // SO_REUSEADDR only (a restart may bind while old connections linger in
  // TIME_WAIT); never SO_REUSEPORT, so a port in use is an error.
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(loyalty::StrCat("cannot listen for HTTP on ", options_.listen, ": ", ec.message()));
  }
  port = acceptor_.local_endpoint().port();
  return absl::OkStatus();
}

void HttpServer::Impl::Run() {
  Accept();
  for (size_t i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), loyalty::StrCat("http-", i).c_str());
      ioc_.run();
    });
  }
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      // Out of file descriptors and the like: go on accepting, after a
      // pause, rather than stop serving for good.
      LogWarning(loyalty::StrCat("http: accept: ", ec.message()));
      auto timer = std::make_shared<asio::steady_timer>(ioc_, std::chrono::milliseconds(50));
      timer->async_wait([this, timer](beast::error_code) { Accept(); });
      return;
    }
    if (stopping()) return;
    if (connections_.load() >= options_.max_connections) {
      Refuse(std::move(socket));
    } else {
      ConnectionEvents().WithLabels({"accepted"}).Inc();
      if (tls_) {
        auto session = std::make_shared<BasicSession<beast::ssl_stream<beast::tcp_stream>>>(*this, std::move(socket),
                                                                                            tls_->Current());
        Add(session);
        session->Start();
      } else {
        auto session = std::make_shared<BasicSession<beast::tcp_stream>>(*this, std::move(socket));
        Add(session);
        session->Start();
      }
    }
    Accept();
  });
}

void HttpServer::Impl::Refuse(tcp::socket socket) {
  ConnectionEvents().WithLabels({"refused"}).Inc();
  // (With TLS the client cannot read this plaintext answer: it sees the
  // connection closed, and retries as it would after a reset.)
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  auto text = std::make_shared<std::string>(CannedError(
      503, "Service Unavailable", "UNAVAILABLE", 14,
      loyalty::StrCat("connections: this server holds at most ", options_.max_connections, "; retry later"),
      "Retry-After: 1\r\n"));
  asio::async_write(*s, asio::buffer(*text), [s, text](beast::error_code, size_t) {
    beast::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);
    s->close(ignored);
  });
}

void HttpServer::Impl::Add(const std::shared_ptr<Session>& s) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.insert(s.get());
  weak_sessions_.push_back(s);
  connections_.fetch_add(1);
  // Forget the handles of sessions gone, now and then.
  if (weak_sessions_.size() > 2 * sessions_.size() + 64) {
    std::erase_if(weak_sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
  }
}

void HttpServer::Impl::Remove(Session* s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sessions_.erase(s) == 1) connections_.fetch_sub(1);
}

void HttpServer::Impl::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  stopping_.store(true, std::memory_order_release);
  asio::post(ioc_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    if (tls_reload_) tls_reload_->cancel();
  });
  auto each_session = [this](auto fn) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& w : weak_sessions_) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) fn(*s);
  };
  each_session([](Session& s) { s.CloseIfIdle(); });
  const auto deadline = Clock::now() + grace;
  while (connections_.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  each_session([](Session& s) { s.ForceClose(); });
  // Let the closes run, then stop.
  const auto hard = Clock::now() + std::chrono::milliseconds(500);
  while (connections_.load() > 0 && Clock::now() < hard) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandler& handler) {
  assert(options.threads > 0);
  auto impl = std::make_unique<Impl>(options, handler);
  int port = 0;
  if (absl::Status s = impl->LoadTls(); !s.ok()) return s;
  if (absl::Status s = impl->Listen(port); !s.ok()) return s;
  impl->Run();
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(impl)));
  server->port_ = port;
  return server;
}

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_) impl_->Shutdown(grace);
}

}  // namespace loyalty::http
