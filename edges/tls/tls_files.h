// edges/tls/tls_files.h: where an edge's TLS keys are, from the config's
// `tls` block. Both edges (gRPC and HTTP) use the same files and re-read
// them every `reload_interval_s`, so a renewed certificate is served
// without a restart (connections already open keep theirs).
//
// Mutual TLS: with `client_ca_file`, a client may present a certificate;
// it is verified against those CAs, and its subject's common name names the
// store it belongs to ("store-1", or "store-1/till-3": the part before the
// first '/'). A terminal credential used with a certificate of another
// store is refused; with `require_terminal_certificate`, a terminal
// credential without one is refused too (members and admins need none).
#pragma once

#include <string>

namespace loyalty {

struct TlsFiles {
  std::string cert_chain_file;   // PEM: the server's certificate, then its chain
  std::string private_key_file;  // PEM
  std::string client_ca_file;    // PEM: CAs of client certificates; empty: none asked for
  unsigned reload_interval_s = 60;
  bool enabled() const { return !cert_chain_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

}  // namespace loyalty
