// Helpers shared by the PKI tests: the clock they judge validity by, a fleet CA, and certificates
// parsed back with mbedTLS.
#pragma once

#include <gtest/gtest.h>
#include <mbedtls/x509_crt.h>

#include <memory>
#include <string>
#include <utility>

#include "reclothes/common/clock.h"
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

// A certificate (or chain) parsed by mbedTLS, freed with this object.
struct ParsedCrt {
  ParsedCrt() { mbedtls_x509_crt_init(&crt); }
  ~ParsedCrt() { mbedtls_x509_crt_free(&crt); }
  ParsedCrt(const ParsedCrt&) = delete;
  ParsedCrt& operator=(const ParsedCrt&) = delete;
  int parse(const std::string& pem) {
    return mbedtls_x509_crt_parse(&crt, reinterpret_cast<const unsigned char*>(pem.c_str()),
                                  pem.size() + 1);
  }
  mbedtls_x509_crt crt;
};

}  // namespace reclothes::provisioning::testing
