// reclothes-token: make, sign, inspect and verify QR access tokens from the command line.
// For developers and technicians: "what does this token say, and would box X accept it now?"
#include <ZXing/BitMatrix.h>
#include <ZXing/MultiFormatWriter.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <variant>

#include "reclothes/common/clock.h"
#include "reclothes/common/token.h"

namespace {

using namespace reclothes;

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// With the C++20 calendar rather than gmtime_r: time_t is 32 bits on Debian 12's armhf, where a
// token's times after 2038-01-19 (the format allows up to 2106) came out as 1901.
std::string iso_time(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_seconds at{seconds{unix_seconds}};
  const auto day = floor<days>(at);
  const year_month_day date{day};
  const hh_mm_ss of_day{at - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(of_day.hours().count()),
                static_cast<int>(of_day.minutes().count()),
                static_cast<int>(of_day.seconds().count()));
  return buf;
}

void print_claims(const SignedToken& t) {
  std::cout << "key id:       " << t.key_id << "\n"
            << "token id:     " << t.claims.token_id_hex() << "\n"
            << "action:       " << to_string(t.claims.action) << "\n"
            << "box:          " << t.claims.box_id << "\n"
            << "compartments:";
  for (auto c : t.claims.compartments) std::cout << ' ' << int{c};
  std::cout << "\norder ref:    " << t.claims.order_ref << "\n"
            << "not before:   " << iso_time(t.claims.not_before) << "\n"
            << "expires:      " << iso_time(t.claims.expires) << "\n";
}

// Prints the QR code with Unicode half blocks, two module rows per text line.
void print_qr(const std::string& text) {
  ZXing::MultiFormatWriter writer(ZXing::BarcodeFormat::QRCode);
  writer.setMargin(2).setEccLevel(4);  // 4 of 0..8: level M
  ZXing::BitMatrix m = writer.encode(text, 0, 0);
  for (int y = 0; y < m.height(); y += 2) {
    for (int x = 0; x < m.width(); ++x) {
      bool top = m.get(x, y);
      bool bottom = y + 1 < m.height() && m.get(x, y + 1);
      // Dark modules are printed as spaces on a light background would need colours; we print
      // light as blocks instead so the code reads on dark terminals (inverted QR is decodable
      // by most phones, and our scanner tries both).
      std::cout << (!top && !bottom ? "\u2588" : !top ? "\u2580" : !bottom ? "\u2584" : " ");
    }
    std::cout << "\n";
  }
  std::cout << "(" << text.size() << " characters, QR " << m.width() << "x" << m.height()
            << " modules, version " << (m.width() - 4 - 17) / 4 << ")\n";
}

// The options of every subcommand (some are shared: --key-id, --box, the token).
struct Options {
  std::string key_out;
  int key_id = 1;
  std::string key_file;
  std::string box;
  std::string action = "deposit";
  std::vector<int> compartments;
  std::uint64_t order_ref = 0;
  int minutes = 15;
  bool qr = false;
  std::string token_text;
  std::string pub_file;
  int compartment = 0;
};

int fail(const std::string& message, int code = 1) {
  std::cerr << "error: " << message << "\n";
  return code;
}

int keygen(const Options& o) {
  auto signer = TokenSigner::generate(static_cast<std::uint16_t>(o.key_id));
  if (!signer) return fail(signer.error().message);
  auto pem = signer->private_pem();
  auto pub = signer->public_pem();
  if (!pem || !pub) return fail("cannot export key");
  std::FILE* f = std::fopen(o.key_out.c_str(), "wx");
  if (!f) return fail("cannot create " + o.key_out + " (does it exist already?)");
  std::fputs(pem->c_str(), f);
  std::fclose(f);
  std::cout << *pub;
  return 0;
}

// The claims of a token for o.box from now for o.minutes; the exit code if they cannot be made.
std::variant<TokenClaims, int> claims_of(const Options& o, const Clock& clock) {
  auto act = token_action_from_string(o.action);
  if (!act) {
    std::cerr << "error: unknown action '" << o.action << "'\n";
    return 2;
  }
  auto id = random_bytes(kTokenIdBytes);
  if (!id) return fail(id.error().message);
  TokenClaims c;
  std::copy(id->begin(), id->end(), c.token_id.begin());
  c.action = *act;
  c.box_id = o.box;
  for (int n : o.compartments) {
    if (n < 1 || n > 255) {
      std::cerr << "error: compartment " << n << " is outside 1..255\n";
      return 2;
    }
    c.compartments.push_back(static_cast<std::uint8_t>(n));
  }
  std::sort(c.compartments.begin(), c.compartments.end());
  c.order_ref = o.order_ref;
  c.not_before = clock.wall_seconds();
  c.expires = c.not_before + o.minutes * 60;
  return c;
}

int sign(const Options& o, const Clock& clock) {
  auto pem = read_file(o.key_file);
  if (!pem) return fail(pem.error().message);
  auto signer = TokenSigner::from_private_pem(static_cast<std::uint16_t>(o.key_id), *pem);
  if (!signer) return fail(signer.error().message);
  auto claims = claims_of(o, clock);
  if (const int* code = std::get_if<int>(&claims)) return *code;
  auto text = signer->sign(std::get<TokenClaims>(claims));
  if (!text) return fail(text.error().message, 2);
  std::cout << *text << "\n";
  if (o.qr) print_qr(*text);
  return 0;
}

int inspect(const Options& o) {
  auto t = parse_token_unverified(o.token_text);
  if (!t) {
    std::cerr << "malformed: " << t.error().detail << "\n";
    return 1;
  }
  print_claims(*t);
  return 0;
}

int verify(const Options& o, const Clock& clock) {
  auto pem = read_file(o.pub_file);
  if (!pem) return fail(pem.error().message);
  TrustedKeys keys;
  if (auto st = keys.add(static_cast<std::uint16_t>(o.key_id), *pem); !st) {
    return fail(st.error().message);
  }
  TokenVerifier verifier(keys);
  VerifyRequest req{o.box, std::nullopt, clock.wall_seconds()};
  if (o.compartment > 0) req.compartment = static_cast<std::uint8_t>(o.compartment);
  auto t = verifier.verify(o.token_text, req);
  if (!t) {
    std::cout << "REFUSED: " << to_string(t.error().reason) << " (" << t.error().detail << ")\n";
    return 1;
  }
  std::cout << "ACCEPTED\n";
  print_claims(*t);
  return 0;
}

CLI::App* add_keygen(CLI::App& app, Options& o) {
  auto* keygen =
      app.add_subcommand("keygen", "Generate a P-256 signing key (PEM) and print its public key");
  keygen->add_option("--out", o.key_out, "Write the private key here (mode 0600)")->required();
  keygen->add_option("--key-id", o.key_id, "Key id (1..65535)")->check(CLI::Range(1, 65535));
  return keygen;
}

CLI::App* add_sign(CLI::App& app, Options& o) {
  auto* sign = app.add_subcommand("sign", "Sign a token and print its text (and QR with --qr)");
  sign->add_option("--key", o.key_file, "Private key PEM from keygen")->required();
  sign->add_option("--key-id", o.key_id, "Key id of that key")->check(CLI::Range(1, 65535));
  sign->add_option("--box", o.box, "Box id")->required();
  sign->add_option("--compartment", o.compartments, "Compartment number(s)")->required();
  sign->add_option("--action", o.action,
                   "deposit, pickup, courier_collect, courier_load or return");
  sign->add_option("--order", o.order_ref, "Order reference");
  sign->add_option("--minutes", o.minutes, "Validity window from now")->check(CLI::Range(1, 44640));
  sign->add_flag("--qr", o.qr, "Also print the QR code");
  return sign;
}

CLI::App* add_inspect(CLI::App& app, Options& o) {
  auto* inspect = app.add_subcommand("inspect", "Print what a token says (signature NOT checked)");
  inspect->add_option("token", o.token_text, "Token text (RC1:...)")->required();
  return inspect;
}

CLI::App* add_verify(CLI::App& app, Options& o) {
  auto* verify = app.add_subcommand("verify", "Verify a token as a box would, now");
  verify->add_option("token", o.token_text, "Token text (RC1:...)")->required();
  verify->add_option("--public-key", o.pub_file, "Trusted public key PEM")->required();
  verify->add_option("--key-id", o.key_id, "Key id of that key")->check(CLI::Range(1, 65535));
  verify->add_option("--box", o.box, "This box's id")->required();
  verify->add_option("--compartment", o.compartment, "Compartment asked about (0: any)");
  return verify;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Make, sign, inspect and verify ReClothes QR access tokens."};
  app.require_subcommand(1);
  Options o;
  const CLI::App* keygen_cmd = add_keygen(app, o);
  const CLI::App* sign_cmd = add_sign(app, o);
  const CLI::App* inspect_cmd = add_inspect(app, o);
  const CLI::App* verify_cmd = add_verify(app, o);
  CLI11_PARSE(app, argc, argv);
  SystemClock clock;
  if (keygen_cmd->parsed()) return keygen(o);
  if (sign_cmd->parsed()) return sign(o, clock);
  if (inspect_cmd->parsed()) return inspect(o);
  if (verify_cmd->parsed()) return verify(o, clock);
  return 0;
}
