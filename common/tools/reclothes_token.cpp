// reclothes-token: make, sign, inspect and verify QR access tokens from the command line.
// For developers and technicians: "what does this token say, and would box X accept it now?"
#include <ZXing/BitMatrix.h>
#include <ZXing/MultiFormatWriter.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

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

std::string iso_time(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Make, sign, inspect and verify ReClothes QR access tokens."};
  app.require_subcommand(1);

  auto* keygen =
      app.add_subcommand("keygen", "Generate a P-256 signing key (PEM) and print its public key");
  std::string key_out;
  int key_id = 1;
  keygen->add_option("--out", key_out, "Write the private key here (mode 0600)")->required();
  keygen->add_option("--key-id", key_id, "Key id (1..65535)")->check(CLI::Range(1, 65535));

  auto* sign = app.add_subcommand("sign", "Sign a token and print its text (and QR with --qr)");
  std::string key_file, box, action = "deposit";
  std::vector<int> compartments;
  std::uint64_t order_ref = 0;
  int minutes = 15;
  bool qr = false;
  sign->add_option("--key", key_file, "Private key PEM from keygen")->required();
  sign->add_option("--key-id", key_id, "Key id of that key")->check(CLI::Range(1, 65535));
  sign->add_option("--box", box, "Box id")->required();
  sign->add_option("--compartment", compartments, "Compartment number(s)")->required();
  sign->add_option("--action", action, "deposit, pickup, courier_collect, courier_load or return");
  sign->add_option("--order", order_ref, "Order reference");
  sign->add_option("--minutes", minutes, "Validity window from now")->check(CLI::Range(1, 44640));
  sign->add_flag("--qr", qr, "Also print the QR code");

  auto* inspect = app.add_subcommand("inspect", "Print what a token says (signature NOT checked)");
  std::string token_text;
  inspect->add_option("token", token_text, "Token text (RC1:...)")->required();

  auto* verify = app.add_subcommand("verify", "Verify a token as a box would, now");
  std::string pub_file;
  int compartment = 0;
  verify->add_option("token", token_text, "Token text (RC1:...)")->required();
  verify->add_option("--public-key", pub_file, "Trusted public key PEM")->required();
  verify->add_option("--key-id", key_id, "Key id of that key")->check(CLI::Range(1, 65535));
  verify->add_option("--box", box, "This box's id")->required();
  verify->add_option("--compartment", compartment, "Compartment asked about (0: any)");

  CLI11_PARSE(app, argc, argv);
  SystemClock clock;

  if (keygen->parsed()) {
    auto signer = TokenSigner::generate(static_cast<std::uint16_t>(key_id));
    if (!signer) {
      std::cerr << "error: " << signer.error().message << "\n";
      return 1;
    }
    auto pem = signer->private_pem();
    auto pub = signer->public_pem();
    if (!pem || !pub) {
      std::cerr << "error: cannot export key\n";
      return 1;
    }
    std::FILE* f = std::fopen(key_out.c_str(), "wx");
    if (!f) {
      std::cerr << "error: cannot create " << key_out << " (does it exist already?)\n";
      return 1;
    }
    std::fputs(pem->c_str(), f);
    std::fclose(f);
    std::cout << *pub;
    return 0;
  }
  if (sign->parsed()) {
    auto pem = read_file(key_file);
    if (!pem) {
      std::cerr << "error: " << pem.error().message << "\n";
      return 1;
    }
    auto signer = TokenSigner::from_private_pem(static_cast<std::uint16_t>(key_id), *pem);
    if (!signer) {
      std::cerr << "error: " << signer.error().message << "\n";
      return 1;
    }
    auto act = token_action_from_string(action);
    if (!act) {
      std::cerr << "error: unknown action '" << action << "'\n";
      return 2;
    }
    auto id = random_bytes(kTokenIdBytes);
    if (!id) {
      std::cerr << "error: " << id.error().message << "\n";
      return 1;
    }
    TokenClaims c;
    std::copy(id->begin(), id->end(), c.token_id.begin());
    c.action = *act;
    c.box_id = box;
    for (int n : compartments) {
      if (n < 1 || n > 255) {
        std::cerr << "error: compartment " << n << " is outside 1..255\n";
        return 2;
      }
      c.compartments.push_back(static_cast<std::uint8_t>(n));
    }
    std::sort(c.compartments.begin(), c.compartments.end());
    c.order_ref = order_ref;
    c.not_before = clock.wall_seconds();
    c.expires = c.not_before + minutes * 60;
    auto text = signer->sign(c);
    if (!text) {
      std::cerr << "error: " << text.error().message << "\n";
      return 2;
    }
    std::cout << *text << "\n";
    if (qr) print_qr(*text);
    return 0;
  }
  if (inspect->parsed()) {
    auto t = parse_token_unverified(token_text);
    if (!t) {
      std::cerr << "malformed: " << t.error().detail << "\n";
      return 1;
    }
    print_claims(*t);
    return 0;
  }
  if (verify->parsed()) {
    auto pem = read_file(pub_file);
    if (!pem) {
      std::cerr << "error: " << pem.error().message << "\n";
      return 1;
    }
    TrustedKeys keys;
    if (auto st = keys.add(static_cast<std::uint16_t>(key_id), *pem); !st) {
      std::cerr << "error: " << st.error().message << "\n";
      return 1;
    }
    TokenVerifier verifier(keys);
    VerifyRequest req{box, std::nullopt, clock.wall_seconds()};
    if (compartment > 0) req.compartment = static_cast<std::uint8_t>(compartment);
    auto t = verifier.verify(token_text, req);
    if (!t) {
      std::cout << "REFUSED: " << to_string(t.error().reason) << " (" << t.error().detail << ")\n";
      return 1;
    }
    std::cout << "ACCEPTED\n";
    print_claims(*t);
    return 0;
  }
  return 0;
}
