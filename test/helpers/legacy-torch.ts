/**
 * The start of a legacy (pre-1.6) torch file: `torch.save(..., _use_new_zipfile_serialization=False)`
 * begins with the pickled magic number 0x1950a86a20f9469cfc6c, then the protocol's STOP.
 */
export const LEGACY_TORCH_FILE = Uint8Array.of(
  0x80,
  0x02,
  0x8a,
  0x0a,
  0x6c,
  0xfc,
  0x9c,
  0x46,
  0xf9,
  0x20,
  0x6a,
  0xa8,
  0x50,
  0x19,
  0x2e,
);
