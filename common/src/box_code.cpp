#include "reclothes/common/box_code.h"

#include <algorithm>
#include <cctype>

#include "reclothes/common/token.h"

namespace reclothes {

Result<std::string> box_code(std::string_view box_id) {
  if (!is_valid_box_id(box_id)) {
    return Error{ErrorCode::kInvalidArgument,
                 "box code: invalid box id (1..32 characters of [A-Za-z0-9_-])"};
  }
  return std::string(kBoxCodePrefix) + std::string(box_id);
}

bool looks_like_box_code(std::string_view text) {
  if (text.size() < kBoxCodePrefix.size()) return false;
  return std::equal(kBoxCodePrefix.begin(), kBoxCodePrefix.end(), text.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
}

Result<std::string> parse_box_code(std::string_view text) {
  if (!looks_like_box_code(text)) {
    return Error{ErrorCode::kInvalidArgument,
                 "not a box code: expected \"" + std::string(kBoxCodePrefix) + "<box id>\""};
  }
  const std::string_view id = text.substr(kBoxCodePrefix.size());
  if (!is_valid_box_id(id)) {
    return Error{ErrorCode::kInvalidArgument, "box code: the box id after \"" +
                                                  std::string(kBoxCodePrefix) +
                                                  "\" must be 1..32 characters of [A-Za-z0-9_-]"};
  }
  return std::string(id);
}

}  // namespace reclothes
