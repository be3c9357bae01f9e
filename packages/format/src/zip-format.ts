/**
 * The zip facts (PKWARE APPNOTE 6.3.x) that the bundle zip's writer (`bundlectl pack`,
 * bundle/src/zip-writer.ts) and its reader (zip-source.ts) share: record signatures and
 * fixed lengths, ZIP64 markers, compression methods, flag bits and attribute bits. One
 * place, so that the host can never write a record the device reads differently.
 */

/** Record signatures (little-endian `PK\x03\x04` and so on). */
export const ZIP_SIG = {
  /** Local file header (APPNOTE 4.3.7). */
  local: 0x04034b50,
  /**
   * Data descriptor (APPNOTE 4.3.9): CRC-32 and sizes after an entry's data. Ours writes
   * one only after an entry too large to hold in its output buffer until its header is final.
   */
  dataDescriptor: 0x08074b50,
  /** Central directory file header (APPNOTE 4.3.12). */
  central: 0x02014b50,
  /** ZIP64 end of central directory record (APPNOTE 4.3.14). */
  zip64Eocd: 0x06064b50,
  /** ZIP64 end of central directory locator (APPNOTE 4.3.15). */
  zip64Locator: 0x07064b50,
  /** End of central directory record (APPNOTE 4.3.16). */
  eocd: 0x06054b50,
} as const;

/** Fixed lengths of the records, without their variable parts (names, extras, comments). */
export const ZIP_LEN = {
  local: 30,
  central: 46,
  zip64Eocd: 56,
  zip64Locator: 20,
  eocd: 22,
  /** Signature, CRC-32 and two 32-bit sizes. */
  dataDescriptor: 16,
  /** Signature, CRC-32 and two 64-bit sizes (an entry whose local header has a ZIP64 field). */
  dataDescriptor64: 24,
} as const;

/** Compression methods (APPNOTE 4.4.5); a bundle zip uses these two only. */
export const ZIP_METHOD = { stored: 0, deflated: 8 } as const;

/** General purpose flag bits (APPNOTE 4.4.4). */
export const ZIP_FLAG = {
  encrypted: 0x0001,
  dataDescriptor: 0x0008,
  strongEncryption: 0x0040,
} as const;

/** "Version needed to extract" (APPNOTE 4.4.3): 2.0 (deflate, directories), 4.5 (ZIP64). */
export const ZIP_VERSION = { default: 20, zip64: 45 } as const;

/** "Version made by", high byte (APPNOTE 4.4.2): Unix, so the mode is in the attributes. */
export const ZIP_MADE_BY_UNIX = 3 << 8;

/**
 * ZIP64 (APPNOTE 4.3.14, 4.5.3): a 16-bit field holding `u16Max` or a 32-bit field holding
 * `u32Max` means "see the ZIP64 record or extra field".
 */
export const ZIP64 = {
  /** Header ID of the ZIP64 extended information extra field. */
  extraId: 0x0001,
  u16Max: 0xffff,
  u32Max: 0xffffffff,
} as const;

/** The longest archive comment the end record can announce (its length is 16-bit). */
export const ZIP_MAX_COMMENT = 0xffff;

/** Unix file types in the high 16 bits of the external attributes ("made by" Unix). */
export const ZIP_UNIX = {
  typeMask: 0o170000,
  regular: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  /** The modes our writer gives files and directories. */
  fileMode: 0o100644,
  dirMode: 0o040755,
} as const;

/** MS-DOS directory attribute, in the low byte of the external attributes. */
export const ZIP_DOS_DIRECTORY = 0x10;

/** DOS date of 1980-01-01 ((year - 1980) << 9 | month << 5 | day), the earliest there is. */
export const ZIP_DOS_DATE_1980 = (0 << 9) | (1 << 5) | 1;
