// The code printed on every box: a QR that names the box, for the customer app's online open.
//
//   reclothes:box:<box_id>          e.g. "reclothes:box:box-0001"
//
// The app scans it and calls POST /v1/boxes/{box_id}/open; the controller then sends the box an
// open_access command (docs/token-format.md, "The box's own code"). It is not an access token and
// opens nothing by itself: a box camera that sees it refuses it with reason "box_code". A URI
// with our own scheme (not an https URL) so that it carries no host that could change, and a
// phone's own camera app offers to open it in the ReClothes app.
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "reclothes/common/result.h"

namespace reclothes {

inline constexpr std::string_view kBoxCodePrefix = "reclothes:box:";

// The text of a box's code. box_id must be valid (is_valid_box_id): kInvalidArgument otherwise.
Result<std::string> box_code(std::string_view box_id);

// The box id in a box code; kInvalidArgument naming what is wrong for anything else (another
// prefix, an invalid box id, trailing text). The prefix is matched in any case, as QR readers
// sometimes upper-case text.
Result<std::string> parse_box_code(std::string_view text);

// True when the text starts with the box-code prefix (any case), valid or not: a box camera
// refuses such a text as "box_code" instead of trying it as a token.
bool looks_like_box_code(std::string_view text);

}  // namespace reclothes
