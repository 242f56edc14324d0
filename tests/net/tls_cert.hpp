#pragma once
// Test helper: a self-signed certificate + key written as PEM files into a fresh temp directory.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace ba::net::testing {

struct TestCert {
  std::string dir;
  std::string cert_file;
  std::string key_file;
};

// sans: an OpenSSL subjectAltName value, e.g. "DNS:localhost,IP:127.0.0.1".
inline TestCert make_self_signed_cert(const std::string& common_name, const std::string& sans) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ba-net-cert-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  TestCert out{tmpl, tmpl + "/cert.pem", tmpl + "/key.pem"};

  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  if (!key || !x) throw std::runtime_error("cannot create key/cert");
  X509_set_version(x, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("bad extension " + value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add_ext(NID_basic_constraints, "critical,CA:TRUE");
  add_ext(NID_key_usage, "critical,digitalSignature,keyCertSign");
  add_ext(NID_subject_key_identifier, "hash");
  add_ext(NID_subject_alt_name, sans);
  if (!X509_sign(x, key, EVP_sha256())) throw std::runtime_error("X509_sign failed");

  FILE* f = std::fopen(out.cert_file.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(out.key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

struct TempCertGuard {
  TestCert cert;
  ~TempCertGuard() {
    std::error_code ec;
    std::filesystem::remove_all(cert.dir, ec);
  }
};

}  // namespace ba::net::testing
