/* stb's implementation for a sysroot that has stb's headers but no libstb (cmake/Dependencies.cmake,
 * RECLOTHES_STB): the same two parts Debian's libstb gives the project, image reading (the box's
 * scanner) and PNG writing (QR codes, the simulator's frames). */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
