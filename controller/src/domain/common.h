// Transitional: the modules not yet split into routes/ and store/ see both layers through this.
#pragma once

#include "routes/route_common.h"
#include "store/shared.h"
