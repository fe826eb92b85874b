// N-API binding of the system libjpeg(-turbo) for the common case of the data pipelines:
// an 8-bit baseline or progressive JPEG, YCbCr or greyscale, decoded to RGB exactly as
// Pillow decodes it (libjpeg's defaults: ISLOW DCT, fancy upsampling; no colour management).
// Everything else is declined, never guessed: CMYK / YCCK, 12-bit, other colour spaces,
// images over the caller's pixel limit, and any file libjpeg warns or errors about. The
// caller then decodes through sharp, which gives the canonical result or one-line error.
// Synchronous: it runs on the calling thread (a data worker), with no thread-pool hop.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <node_api.h>
#include <jpeglib.h>

namespace {

/** libjpeg's error manager, extended to jump out on errors and to note warnings. */
struct ErrorManager {
  jpeg_error_mgr base;
  jmp_buf jump;
  bool warned;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

void OnMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (!err->warned) (*cinfo->err->format_message)(cinfo, err->message);
  err->warned = true;  // corrupt-data warnings: libjpeg would carry on with made-up pixels
}

napi_value Declined(napi_env env, const char* why) {
  napi_value result, reason;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &reason);
  napi_set_named_property(env, result, "declined", reason);
  return result;
}

napi_value Throw(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_REPGHOST_JPEG", msg);
  return nullptr;
}

// The decoding state lives in a plain struct so that longjmp skips no destructor.
struct Decode {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
};

// decode(bytes: Uint8Array, maxPixels: number):
//   { width, height, pixels: Uint8Array (RGB), exif: Uint8Array | null } | { declined: string }
napi_value DecodeJpeg(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool isTyped = false;
  if (argc < 2 || napi_is_typedarray(env, argv[0], &isTyped) != napi_ok || !isTyped)
    return Throw(env, "decode(bytes: Uint8Array, maxPixels: number)");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr);
  double maxPixels = 0;
  if (type != napi_uint8_array || napi_get_value_double(env, argv[1], &maxPixels) != napi_ok)
    return Throw(env, "decode(bytes: Uint8Array, maxPixels: number)");
  if (length == 0 || length > 0x7fffffffUL) return Declined(env, "size");

  static thread_local Decode d;  // big (libjpeg's structs); one per thread, reset per call
  std::memset(&d, 0, sizeof d);
  d.cinfo.err = jpeg_std_error(&d.err.base);
  d.err.base.error_exit = OnError;
  d.err.base.emit_message = OnMessage;
  napi_value result = nullptr;
  if (setjmp(d.err.jump)) {
    jpeg_destroy_decompress(&d.cinfo);
    return Declined(env, d.err.message);
  }
  jpeg_create_decompress(&d.cinfo);
  jpeg_mem_src(&d.cinfo, static_cast<const unsigned char*>(data), static_cast<unsigned long>(length));
  jpeg_save_markers(&d.cinfo, JPEG_APP0 + 1, 0xffff);  // APP1: where EXIF (and its orientation) lives
  jpeg_read_header(&d.cinfo, TRUE);
  const char* decline = nullptr;
  if (d.cinfo.data_precision != 8) decline = "not 8-bit";
  else if (!(d.cinfo.jpeg_color_space == JCS_YCbCr && d.cinfo.num_components == 3) &&
           !(d.cinfo.jpeg_color_space == JCS_GRAYSCALE && d.cinfo.num_components == 1))
    decline = "colour space";
  else if (static_cast<double>(d.cinfo.image_width) * d.cinfo.image_height > maxPixels) decline = "pixel limit";
  if (decline != nullptr || d.err.warned) {
    jpeg_destroy_decompress(&d.cinfo);
    return Declined(env, decline != nullptr ? decline : d.err.message);
  }
  // Saved markers live in libjpeg's image pool, freed by jpeg_finish_decompress: copy now.
  napi_value exif;
  napi_get_null(env, &exif);
  int exifMarkers = 0;
  for (jpeg_saved_marker_ptr m = d.cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 || std::memcmp(m->data, "Exif\0\0", 6) != 0) continue;
    if (++exifMarkers > 1) break;
    void* copy = nullptr;
    napi_value ab;
    napi_create_arraybuffer(env, m->data_length - 6, &copy, &ab);
    std::memcpy(copy, m->data + 6, m->data_length - 6);
    napi_create_typedarray(env, napi_uint8_array, m->data_length - 6, ab, 0, &exif);
  }
  // Two EXIF blocks: which one a reader honours is not defined; let sharp decide.
  if (exifMarkers > 1) {
    jpeg_destroy_decompress(&d.cinfo);
    return Declined(env, "two EXIF blocks");
  }
  d.cinfo.out_color_space = JCS_RGB;  // greyscale is replicated, as Pillow's convert("RGB")
  d.cinfo.dct_method = JDCT_ISLOW;
  d.cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&d.cinfo);
  const size_t width = d.cinfo.output_width;
  const size_t height = d.cinfo.output_height;
  if (d.cinfo.output_components != 3) {
    jpeg_destroy_decompress(&d.cinfo);
    return Declined(env, "output components");
  }
  napi_value buffer;
  void* pixels = nullptr;
  if (napi_create_arraybuffer(env, width * height * 3, &pixels, &buffer) != napi_ok) {
    jpeg_destroy_decompress(&d.cinfo);
    return Declined(env, "out of memory");
  }
  auto* out = static_cast<unsigned char*>(pixels);
  while (d.cinfo.output_scanline < height) {
    JSAMPROW row = out + d.cinfo.output_scanline * width * 3;
    // Stop at the first warning (a truncated file would otherwise be filled with grey to
    // the end first); 0 lines never happens with a memory source, and must not loop.
    if (jpeg_read_scanlines(&d.cinfo, &row, 1) != 1 || d.err.warned) {
      jpeg_destroy_decompress(&d.cinfo);
      return Declined(env, d.err.warned ? d.err.message : "suspended");
    }
  }
  jpeg_finish_decompress(&d.cinfo);
  if (d.err.warned) {
    jpeg_destroy_decompress(&d.cinfo);
    return Declined(env, d.err.message);
  }
  jpeg_destroy_decompress(&d.cinfo);

  napi_value w, h, arr;
  napi_create_object(env, &result);
  napi_create_double(env, static_cast<double>(width), &w);
  napi_create_double(env, static_cast<double>(height), &h);
  napi_create_typedarray(env, napi_uint8_array, width * height * 3, buffer, 0, &arr);
  napi_set_named_property(env, result, "width", w);
  napi_set_named_property(env, result, "height", h);
  napi_set_named_property(env, result, "pixels", arr);
  napi_set_named_property(env, result, "exif", exif);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "decode", NAPI_AUTO_LENGTH, DecodeJpeg, nullptr, &fn);
  napi_set_named_property(env, exports, "decode", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
