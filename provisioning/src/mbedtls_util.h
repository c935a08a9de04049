// The PKI's mbedTLS plumbing: common's (reclothes/common/mbedtls_util.h: holders, errors, the
// seeded generator, wiped buffers) plus holders for the X.509 contexts only the PKI uses. Internal.
#pragma once

#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <string_view>

#include "reclothes/common/mbedtls_util.h"
#include "reclothes/common/result.h"

namespace reclothes::provisioning::internal {

using crypto::Drbg;
using crypto::Holder;
using crypto::mbedtls_error;
using crypto::Mpi;
using crypto::PemBuffer;
using crypto::PkContext;
using crypto::SecretBuffer;

using Crt = Holder<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;
using Crl = Holder<mbedtls_x509_crl, mbedtls_x509_crl_init, mbedtls_x509_crl_free>;
using Csr = Holder<mbedtls_x509_csr, mbedtls_x509_csr_init, mbedtls_x509_csr_free>;
using CrtWriter =
    Holder<mbedtls_x509write_cert, mbedtls_x509write_crt_init, mbedtls_x509write_crt_free>;
using CsrWriter =
    Holder<mbedtls_x509write_csr, mbedtls_x509write_csr_init, mbedtls_x509write_csr_free>;

// What the PKI's generators are seeded with (crypto::Drbg::seed).
inline constexpr std::string_view kDrbgPersonalization = "reclothes-provisioning-pki";

}  // namespace reclothes::provisioning::internal
