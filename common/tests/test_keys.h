// A P-256 key for tests and fuzzing (it signs nothing else), made with OpenSSL, so that the tests
// also show that we read what OpenSSL writes:
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256   (PKCS#8)
//   openssl pkey -pubout                                             (SubjectPublicKeyInfo)
// fuzz/fuzz_token.cpp signs with it too: its seed corpus holds tokens signed with this key.
#pragma once

#include <string_view>

namespace reclothes::test_keys {

inline constexpr std::string_view kP256Pkcs8 = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8ABRoa0c3DEEtpeA
obo1nI9lXH/xF2qCTVNED8MWRU2hRANCAATPoD35+r/XmbKyIClCKm159fXMqJDG
hIR5CsjAWZoi+48sj/DMMlDXao9NThTomfH0K9gG+dEL7x0fnIeOVlwx
-----END PRIVATE KEY-----
)";

inline constexpr std::string_view kP256Public = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEz6A9+fq/15mysiApQiptefX1zKiQ
xoSEeQrIwFmaIvuPLI/wzDJQ12qPTU4U6Jnx9CvYBvnRC+8dH5yHjlZcMQ==
-----END PUBLIC KEY-----
)";

}  // namespace reclothes::test_keys
