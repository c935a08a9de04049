// Strict reading of JSON objects (configuration files and request bodies): the common reader's
// FieldReader (reclothes/common/json_reader.h), under the names the controller's routes use. Each
// getter checks presence, type and range; the first problem is kept with the JSON pointer of the
// field, and finish() also refuses fields nobody asked for, so a typo in a config key or a body
// field is an error instead of a silently ignored value.
#pragma once

#include "reclothes/common/json_reader.h"

namespace reclothes::controller {

using FieldError = ::reclothes::json::FieldError;
using FieldReader = ::reclothes::json::FieldReader;

}  // namespace reclothes::controller
