import { open } from 'node:fs/promises';
import { crc32, deflateRawSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------
// A small zip writer (PKWARE APPNOTE 6.3), able to write what bundlectl pack never would.

export interface ZipItem {
  name: string | Buffer;
  data?: Buffer | string;
  /** 0 stored, 8 deflated (default), anything else as given. */
  method?: number;
  /** Unix mode with its file type; default a regular file (or a directory for `x/`). */
  mode?: number;
  flags?: number;
  /** Recorded CRC-32, size and compressed size, when they should lie. */
  crc?: number;
  size?: number;
  compressedSize?: number;
  /** Data bytes as written, instead of the (deflated) data. */
  payload?: Buffer;
  /** Name in the local header, when it should differ from the central directory's. */
  localName?: string;
  /** Write sizes and CRC in a data descriptor after the data (what streaming writers do). */
  descriptor?: boolean;
  /** The data is this many bytes of hole (a sparse file; nothing is written). */
  hole?: number;
  /** The central directory record points at the local header of this earlier item. */
  sameOffsetAs?: number;
  /** Mark the sizes as ZIP64 in the central directory but leave out the ZIP64 extra field. */
  dropZip64Extra?: boolean;
}

interface Part {
  pos: number;
  buf: Buffer;
}

const U32 = 0xffffffff;

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

function layoutZip(items: readonly ZipItem[]): { parts: Part[]; length: number } {
  const parts: Part[] = [];
  const central: Buffer[] = [];
  const offsets: number[] = [];
  let pos = 0;
  const put = (buf: Buffer) => {
    parts.push({ pos, buf });
    pos += buf.length;
  };
  let zip64 = false;
  for (const item of items) {
    const name = typeof item.name === 'string' ? Buffer.from(item.name, 'latin1') : item.name;
    const isDir = name.at(-1) === 0x2f;
    const data =
      typeof item.data === 'string' ? Buffer.from(item.data) : (item.data ?? Buffer.alloc(0));
    const method = item.method ?? 8;
    const payload = item.payload ?? (method === 8 ? deflateRawSync(data) : data);
    const crc = item.crc ?? crc32(data);
    const size = item.size ?? item.hole ?? data.length;
    const csize = item.compressedSize ?? item.hole ?? payload.length;
    const flags = (item.flags ?? 0) | (item.descriptor ? 0x08 : 0);
    const offset = item.sameOffsetAs === undefined ? pos : offsets[item.sameOffsetAs];
    offsets.push(offset);
    const bigSizes = size >= U32 || csize >= U32;
    const bigOffset = offset >= U32;
    zip64 ||= bigSizes || bigOffset;

    if (item.sameOffsetAs === undefined) {
      const localName = item.localName === undefined ? name : Buffer.from(item.localName, 'latin1');
      const localExtra = bigSizes
        ? Buffer.concat([u16(1), u16(16), u64(size), u64(csize)])
        : Buffer.alloc(0);
      put(
        Buffer.concat([
          u32(0x04034b50),
          u16(45),
          u16(flags),
          u16(method),
          u16(0),
          u16(0x21),
          u32(item.descriptor ? 0 : crc),
          u32(item.descriptor ? 0 : bigSizes ? U32 : csize),
          u32(item.descriptor ? 0 : bigSizes ? U32 : size),
          u16(localName.length),
          u16(localExtra.length),
          localName,
          localExtra,
        ]),
      );
      if (item.hole !== undefined) pos += item.hole;
      else put(payload);
      if (item.descriptor) put(Buffer.concat([u32(0x08074b50), u32(crc), u32(csize), u32(size)]));
    }

    const extra = [
      ...(bigSizes ? [u64(size), u64(csize)] : []),
      ...(bigOffset ? [u64(offset)] : []),
    ];
    const extraField =
      extra.length === 0 || item.dropZip64Extra
        ? Buffer.alloc(0)
        : Buffer.concat([u16(1), u16(extra.length * 8), ...extra]);
    const mode = item.mode ?? (isDir ? 0o40755 : 0o100644);
    central.push(
      Buffer.concat([
        u32(0x02014b50),
        u16((3 << 8) | 45),
        u16(45),
        u16(flags),
        u16(method),
        u16(0),
        u16(0x21),
        u32(crc),
        u32(bigSizes ? U32 : csize),
        u32(bigSizes ? U32 : size),
        u16(name.length),
        u16(extraField.length),
        u16(0),
        u16(0),
        u16(0),
        u32(((mode << 16) | (isDir ? 0x10 : 0)) >>> 0),
        u32(bigOffset ? U32 : offset),
        name,
        extraField,
      ]),
    );
  }
  const cdStart = pos;
  const cd = Buffer.concat(central);
  put(cd);
  // More than 65,534 entries need the ZIP64 end records too (the count is 16-bit there).
  if (zip64 || cdStart >= U32 || items.length >= 0xffff) {
    const recordAt = pos;
    put(
      Buffer.concat([
        u32(0x06064b50),
        u64(44),
        u16(45),
        u16(45),
        u32(0),
        u32(0),
        u64(items.length),
        u64(items.length),
        u64(cd.length),
        u64(cdStart),
      ]),
    );
    put(Buffer.concat([u32(0x07064b50), u32(0), u64(recordAt), u32(1)]));
    put(
      Buffer.concat([
        u32(0x06054b50),
        u16(0),
        u16(0),
        u16(0xffff),
        u16(0xffff),
        u32(U32),
        u32(U32),
        u16(0),
      ]),
    );
  } else {
    put(
      Buffer.concat([
        u32(0x06054b50),
        u16(0),
        u16(0),
        u16(items.length),
        u16(items.length),
        u32(cd.length),
        u32(cdStart),
        u16(0),
      ]),
    );
  }
  return { parts, length: pos };
}

export function zipBytes(items: readonly ZipItem[]): Buffer {
  const { parts, length } = layoutZip(items);
  const out = Buffer.alloc(length);
  for (const p of parts) p.buf.copy(out, p.pos);
  return out;
}

/** Writes the archive as a sparse file: holes cost no disk space. */
export async function writeSparseZip(path: string, items: readonly ZipItem[]): Promise<void> {
  const { parts, length } = layoutZip(items);
  const fh = await open(path, 'w');
  try {
    for (const p of parts) await fh.write(p.buf, 0, p.buf.length, p.pos);
    await fh.truncate(length);
  } finally {
    await fh.close();
  }
}
