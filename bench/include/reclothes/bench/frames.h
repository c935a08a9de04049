// The camera frames B1 and B9 decode: 640x480 grey frames carrying real signed tokens (rendered
// by the firmware's own render_qr, as the simulator does), and frames with no code at all (what
// the camera sees between customers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "reclothes/common/result.h"
#include "reclothes/common/token.h"
#include "reclothes/hal/frame.h"

namespace reclothes::bench {

inline constexpr std::uint32_t kFrameWidth = 640;
inline constexpr std::uint32_t kFrameHeight = 480;

// Claims of a single-compartment customer token for `box_id`, valid from now_s - 60 for an hour.
// The token id is derived from `serial`, so distinct serials give distinct tokens.
TokenClaims customer_claims(std::string_view box_id, TokenAction action, int compartment,
                            std::uint64_t order_ref, std::uint64_t serial, std::int64_t now_s);

// A 640x480 frame showing `text` as a phone held to the camera would: 4 or 5 px per module, the
// position, the surrounding grey and the sensor noise vary with `index` (deterministically).
// render_qr's errors (kInvalidArgument for text too long to fit).
Result<hal::Frame> token_frame(std::string_view text, std::uint32_t index);

// A 640x480 frame with no code: a lit gradient, a few blocks of other greys (a sleeve, a bag, the
// cabinet's edge) and sensor noise, varying with `index`.
hal::Frame empty_frame(std::uint32_t index);

// One plain ZXing pass over the frame with the box Scanner's hints (QR only, no try-harder, no
// rotation, downscaling on): what the Scanner's decode did before it read a frame without a code
// a second time, inverted (commit c8da8ca). The QR code's text, or an empty string.
std::string zxing_one_pass(const hal::Frame& frame);

}  // namespace reclothes::bench
