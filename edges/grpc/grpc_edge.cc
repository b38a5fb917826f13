#include "edges/grpc/grpc_edge.h"

#include <algorithm>
#include <chrono>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/server_interceptor.h>

#include <google/protobuf/descriptor.h>

#include "base/metrics.h"
#include "base/str_cat.h"

namespace loyalty {
namespace {

metrics::CounterFamily& RequestsTotal() {
  static auto& f = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_grpc_requests_total", "gRPC calls finished, by method and status code", {"method", "code"});
  return f;
}
metrics::HistogramFamily& RequestSeconds() {
  static auto& f = metrics::DefaultRegistry().AddHistogram(
      "loyaltyd_grpc_request_duration_seconds", "gRPC call latency, from its start to its status (streams: whole stream)",
      {"method"}, metrics::RequestLatencyBuckets());
  return f;
}

const char* GrpcCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",          "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED", "NOT_FOUND",   "ALREADY_EXISTS",   "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                       "UNIMPLEMENTED", "INTERNAL",        "UNAVAILABLE",      "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// The request type's full name of a method "/loyalty.v1.PosService/RecordSale".
std::string RequestTypeOf(const std::string& method) {
  const size_t slash = method.rfind('/');
  if (method.size() < 2 || slash == std::string::npos || slash == 0) return "";
  const auto* m = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
      method.substr(1, slash - 1) + "." + method.substr(slash + 1));
  return m == nullptr ? "" : m->input_type()->full_name();
}

// Counts every call by method and code, and its latency. And answers a
// request whose bytes are not its message INVALID_ARGUMENT: gRPC's callback
// handler fails such a call UNIMPLEMENTED with no message before any of the
// server's code runs, but it lets interceptors see the request it could not
// read (none) and the status about to be sent.
class EdgeInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit EdgeInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method()), started_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unreadable_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (unreadable_ && status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        const std::string type = RequestTypeOf(method_);
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "request: unreadable: the bytes are not a " + (type.empty() ? "request" : type) +
                                  " (protobuf binary)");
        methods->ModifySendStatus(status);
      }
      RequestsTotal().WithLabels({method_, GrpcCodeName(status.error_code())}).Inc();
      RequestSeconds().WithLabels({method_}).Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const std::chrono::steady_clock::time_point started_;
  bool unreadable_ = false;
};

class EdgeInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new EdgeInterceptor(info);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcEdge>> GrpcEdge::Start(const GrpcEdgeOptions& options, pos::PosOperations& pos,
                                                          MemberOperations& member, AdminOperations& admin,
                                                          const auth::Authenticator& authenticator) {
  std::unique_ptr<GrpcEdge> edge(new GrpcEdge());
  edge->pos_service_ = std::make_unique<pos::PosGrpcService>(pos, authenticator, options.backlog);
  edge->member_service_ = std::make_unique<MemberGrpcService>(member, authenticator);
  edge->admin_service_ = std::make_unique<AdminGrpcService>(admin, authenticator);
  // Both must be enabled before the builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default on Linux: two servers could then bind
  // one port and split its connections. A port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, options.max_connection_idle_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, options.handshake_timeout_ms);
  // Clients may keep a quiet connection open with pings, but not flood them.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (options.tls.enabled()) {
    using grpc::experimental::FileWatcherCertificateProvider;
    // The watcher re-reads the files every interval; a renewed certificate
    // is used for new connections without a restart.
    auto provider = std::make_shared<FileWatcherCertificateProvider>(
        options.tls.private_key_file, options.tls.cert_chain_file, options.tls.client_ca_file,
        std::max(1u, options.tls.reload_interval_s));
    grpc::experimental::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    if (options.tls.mutual()) {
      tls.watch_root_certs();
      // Asked for and verified when sent; members' apps send none.
      tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    credentials = grpc::experimental::TlsServerCredentials(tls);
  }
  builder.AddListeningPort(options.listen, credentials, &edge->port_);
  builder.RegisterService(edge->pos_service_.get());
  builder.RegisterService(edge->member_service_.get());
  builder.RegisterService(edge->admin_service_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<EdgeInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  edge->server_ = builder.BuildAndStart();
  if (edge->server_ == nullptr || edge->port_ == 0) {
    edge->stopped_ = true;
    return absl::UnavailableError(loyalty::StrCat("cannot listen for gRPC on ", options.listen,
                                                  " (the address is in use or not local)"));
  }
  return edge;
}

GrpcEdge::~GrpcEdge() { Stop(std::chrono::steady_clock::now()); }

void GrpcEdge::Stop(Deadline deadline) {
  if (stopped_) return;
  stopped_ = true;
  // Stops accepting calls; in-flight calls get until the deadline.
  const auto left = deadline - std::chrono::steady_clock::now();
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
}

}  // namespace loyalty
