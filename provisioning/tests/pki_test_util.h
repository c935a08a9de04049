// What the PKI tests share: the system clock, a fleet CA, and mbedTLS's own reading of the
// certificates and CRLs the PKI writes (the library the boxes use), through the common holders
// (reclothes/common/mbedtls_util.h).
#pragma once

#include <gtest/gtest.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include <memory>
#include <string>
#include <utility>

#include "reclothes/common/clock.h"
#include "reclothes/common/mbedtls_util.h"
#include "reclothes/provisioning/pki.h"

namespace reclothes::provisioning::testing {

// mbedTLS judges validity by the system clock, so the tests' clock is the system's; logic that
// depends on time uses ManualClock where the system clock would not matter.
inline const SystemClock& system_clock() {
  static const SystemClock clock;
  return clock;
}

// A fleet CA with the default settings; null (and the test failed) when it cannot be made.
inline std::unique_ptr<CertificateAuthority> new_test_ca() {
  auto ca = CertificateAuthority::create({}, system_clock());
  EXPECT_TRUE(ca.ok()) << ca.error().to_string();
  return ca.ok() ? std::make_unique<CertificateAuthority>(std::move(ca).value()) : nullptr;
}

struct ParsedCrt : crypto::Holder<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free> {
  int parse(const std::string& pem) {
    const crypto::PemBuffer buf(pem);
    return mbedtls_x509_crt_parse(&v, buf.data(), buf.size_with_nul());
  }
};

struct ParsedCrl : crypto::Holder<mbedtls_x509_crl, mbedtls_x509_crl_init, mbedtls_x509_crl_free> {
  int parse(const std::string& pem) {
    const crypto::PemBuffer buf(pem);
    return mbedtls_x509_crl_parse(&v, buf.data(), buf.size_with_nul());
  }
  // Revoked certificates listed (mbedTLS keeps an empty first entry for an empty list).
  int entries() const {
    int n = 0;
    for (const mbedtls_x509_crl_entry* e = &v.entry; e != nullptr; e = e->next) {
      if (e->serial.len != 0) ++n;
    }
    return n;
  }
};

}  // namespace reclothes::provisioning::testing
