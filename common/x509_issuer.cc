#include "common/x509_issuer.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl_ptr.h"

namespace baton {
namespace {


absl::Status OpenSslError(absl::string_view what) {
  unsigned long code = ERR_get_error();
  char buffer[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, buffer, sizeof(buffer));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", buffer));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

absl::StatusOr<PkeyPtr> NewKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("EC key generation");
  return key;
}

absl::StatusOr<PemKeyPair> ToPem(X509* cert, EVP_PKEY* key) {
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(cert_bio.get(), cert) != 1) return OpenSslError("PEM certificate");
  if (PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM key");
  }
  return PemKeyPair{BioContents(cert_bio.get()), BioContents(key_bio.get())};
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return OpenSslError("X509_add_ext");
  return absl::OkStatus();
}

// A certificate for `key` named `common_name`, valid from `not_before` to `not_after`,
// without extensions or signature yet. `issuer_name` null: self-issued.
absl::StatusOr<X509Ptr> NewCertificate(EVP_PKEY* key, const std::string& common_name, absl::Time not_before,
                                       absl::Time not_after, const X509_NAME* issuer_name) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  // A random positive 120-bit serial, as RFC 5280 recommends (unique per issuer).
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  if (!BN_rand(serial.get(), 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return OpenSslError("serial number");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after)) == nullptr) {
    return OpenSslError("validity");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1) {
    return OpenSslError("subject");
  }
  if (X509_set_issuer_name(cert.get(), issuer_name != nullptr ? issuer_name : subject) != 1) {
    return OpenSslError("issuer");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) return OpenSslError("public key");
  return cert;
}

}  // namespace

absl::StatusOr<PemKeyPair> CreateCertificateAuthority(const std::string& common_name, absl::Time not_before,
                                                      absl::Time not_after) {
  absl::StatusOr<PkeyPtr> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> cert = NewCertificate(key->get(), common_name, not_before, not_after, nullptr);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  for (const auto& [nid, value] : std::vector<std::pair<int, std::string>>{
           {NID_basic_constraints, "critical,CA:TRUE"},
           {NID_key_usage, "critical,keyCertSign,cRLSign"},
           {NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(c, c, nid, value); !s.ok()) return s;
  }
  if (X509_sign(c, key->get(), EVP_sha256()) <= 0) return OpenSslError("signing the CA");
  return ToPem(c, key->get());
}

absl::StatusOr<PemKeyPair> IssueCertificate(const PemKeyPair& ca, const CertificateRequest& request) {
  if (request.common_name.empty()) return absl::InvalidArgumentError("a certificate needs a common name");
  BioPtr ca_cert_bio(BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size())));
  X509Ptr ca_cert(PEM_read_bio_X509(ca_cert_bio.get(), nullptr, nullptr, nullptr));
  if (ca_cert == nullptr) return OpenSslError("the CA certificate");
  BioPtr ca_key_bio(BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  PkeyPtr ca_key(PEM_read_bio_PrivateKey(ca_key_bio.get(), nullptr, nullptr, nullptr));
  if (ca_key == nullptr) return OpenSslError("the CA key");

  absl::StatusOr<PkeyPtr> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> cert = NewCertificate(key->get(), request.common_name, request.not_before,
                                                request.not_after, X509_get_subject_name(ca_cert.get()));
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"}};
  std::vector<std::string> usages;
  if (request.server) usages.push_back("serverAuth");
  if (request.client) usages.push_back("clientAuth");
  if (!usages.empty()) extensions.push_back({NID_ext_key_usage, absl::StrJoin(usages, ",")});
  std::vector<std::string> alt_names;
  for (const std::string& dns : request.dns_names) alt_names.push_back("DNS:" + dns);
  for (const std::string& ip : request.ip_addresses) alt_names.push_back("IP:" + ip);
  if (!alt_names.empty()) extensions.push_back({NID_subject_alt_name, absl::StrJoin(alt_names, ",")});
  for (const auto& [nid, value] : extensions) {
    if (absl::Status s = AddExtension(c, ca_cert.get(), nid, value); !s.ok()) return s;
  }
  if (X509_sign(c, ca_key.get(), EVP_sha256()) <= 0) return OpenSslError("signing the certificate");
  return ToPem(c, key->get());
}

absl::Status WritePemFile(const std::string& path, const std::string& contents, int mode) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", tmp));
  // open() applies the umask; the mode asked for is what the file gets.
  bool ok = ::fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < contents.size();) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace baton
