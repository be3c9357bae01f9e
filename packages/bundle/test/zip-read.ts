import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';

/** One central directory record, as the tests need it. */
export interface ZipRecord {
  name: string;
  method: number;
  flags: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Upper 16 bits of the external attributes: the Unix mode. */
  unixMode: number;
  offset: number;
}

export interface ZipFile {
  bytes: Buffer;
  records: ZipRecord[];
  /** Whether a ZIP64 end of central directory record and locator are present. */
  zip64: boolean;
}

/**
 * A small reader of the zip central directory (PKWARE APPNOTE §4.3), independent of the
 * writer under test. Handles ZIP64 end records and ZIP64 extra fields.
 */
export async function readZip(path: string): Promise<ZipFile> {
  const bytes = await readFile(path);
  const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${path}: no end of central directory`);
  let count = bytes.readUInt16LE(eocd + 10);
  let offset = bytes.readUInt32LE(eocd + 16);
  const locator = eocd - 20;
  const zip64 = locator >= 0 && bytes.readUInt32LE(locator) === 0x07064b50;
  if (zip64) {
    const rec = Number(bytes.readBigUInt64LE(locator + 8));
    if (bytes.readUInt32LE(rec) !== 0x06064b50) throw new Error('bad ZIP64 end record');
    count = Number(bytes.readBigUInt64LE(rec + 32));
    offset = Number(bytes.readBigUInt64LE(rec + 48));
  }
  const records: ZipRecord[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (bytes.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central record ${i}`);
    const nameLen = bytes.readUInt16LE(at + 28);
    const extraLen = bytes.readUInt16LE(at + 30);
    const commentLen = bytes.readUInt16LE(at + 32);
    const r: ZipRecord = {
      name: bytes.toString('latin1', at + 46, at + 46 + nameLen),
      flags: bytes.readUInt16LE(at + 8),
      method: bytes.readUInt16LE(at + 10),
      dosTime: bytes.readUInt16LE(at + 12),
      dosDate: bytes.readUInt16LE(at + 14),
      crc32: bytes.readUInt32LE(at + 16),
      compressedSize: bytes.readUInt32LE(at + 20),
      size: bytes.readUInt32LE(at + 24),
      unixMode: bytes.readUInt32LE(at + 38) >>> 16,
      offset: bytes.readUInt32LE(at + 42),
    };
    // ZIP64 extended information (id 1): the fields that are 0xffffffff, in order.
    let x = at + 46 + nameLen;
    const end = x + extraLen;
    while (x + 4 <= end) {
      const id = bytes.readUInt16LE(x);
      const len = bytes.readUInt16LE(x + 2);
      if (id === 1) {
        let p = x + 4;
        const take = (): number => {
          const v = Number(bytes.readBigUInt64LE(p));
          p += 8;
          return v;
        };
        if (r.size === 0xffffffff) r.size = take();
        if (r.compressedSize === 0xffffffff) r.compressedSize = take();
        if (r.offset === 0xffffffff) r.offset = take();
      }
      x += 4 + len;
    }
    records.push(r);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return { bytes, records, zip64 };
}

/** The uncompressed bytes of one entry. */
export function entryData(zip: ZipFile, r: ZipRecord): Buffer {
  const b = zip.bytes;
  const start = r.offset + 30 + b.readUInt16LE(r.offset + 26) + b.readUInt16LE(r.offset + 28);
  const raw = b.subarray(start, start + r.compressedSize);
  return r.method === 0 ? Buffer.from(raw) : inflateRawSync(raw);
}
