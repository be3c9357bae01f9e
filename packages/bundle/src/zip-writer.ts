import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { crc32, createDeflateRaw, deflateRaw as deflateRawCb } from 'node:zlib';
import {
  ZIP64,
  ZIP_DOS_DATE_1980,
  ZIP_DOS_DIRECTORY,
  ZIP_FLAG,
  ZIP_LEN,
  ZIP_LIMITS,
  ZIP_MADE_BY_UNIX,
  ZIP_METHOD,
  ZIP_SIG,
  ZIP_UNIX,
  ZIP_VERSION,
} from '@offline-ota/format';
import { BundleError } from './errors.js';
import { wrapIo } from './fsutil.js';

/**
 * A streaming zip writer (PKWARE APPNOTE 6.3.x) whose memory does not grow with the size
 * of the archive: per entry it keeps a compact record (CRC-32, two sizes, the offset of the
 * local header, a flag byte: 29 bytes in typed arrays, plus the caller's name string) and
 * writes the central directory from those records at the end. File contents pass through a
 * 256 KiB read buffer and a 1 MiB output buffer.
 *
 * An entry whose content is in memory (up to 256 KiB) gets a complete local header at once.
 * A file streamed from disk whose worst-case output fits in the 1 MiB output buffer is
 * written with zeroed CRC and sizes, and its local header is completed in the buffer before
 * any of it reaches the file. A larger one sets general-purpose bit 3: its local header
 * keeps CRC and sizes at zero and a data descriptor (with signature; 64-bit sizes when the
 * local header has a ZIP64 field) follows its data. So every byte is final when it leaves
 * the buffer, the archive's sha256 is taken as it is written, and nothing is read back (it
 * used to read back every large entry: 8.7 GB read to write a 4.4 GB zip). The central
 * directory, which the device's reader goes by, always holds the CRC and sizes.
 *
 * What is written is fixed, so the same entries always give the same bytes: time
 * 1980-01-01 00:00 (DOS date 0x0021, time 0), flags 0 (names are printable ASCII),
 * "version made by" Unix, Unix modes 0100644 and 040755 in the external attributes, no
 * extra fields but ZIP64's, no comments.
 *
 * ZIP64 (APPNOTE §4.3.9, §4.3.14, §4.5.3) is used only where a value does not fit:
 * a local header reserves a ZIP64 field (both sizes) when the entry could reach 4 GiB
 * (its input size, or deflate's worst-case growth of it); a central record carries one
 * for each size or offset that does not fit in 32 bits; the ZIP64 end of central directory
 * record and its locator are written when the entry count, or the directory's size or
 * offset, does not fit the classic end record.
 *
 * The record layouts' constants (signatures, lengths, ZIP64 markers, methods) are the
 * reader's too: `@offline-ota/format`'s zip-format.ts.
 */

/** Local ZIP64 field: ID, length, uncompressed and compressed size. */
const LOCAL_ZIP64_EXTRA_LEN = 4 + 16;
/** Bytes read from an input file at once. */
const READ_CHUNK = 256 * 1024;
/** Bytes collected before one positional write. */
const OUTPUT_BUFFER = 1024 * 1024;
/** The longest name the device's reader accepts (its zip format allows 65,535 bytes). */
const MAX_NAME_LENGTH = ZIP_LIMITS.maxNameLength;

/** Flag bits of an entry record. */
const F_DEFLATED = 1;
const F_DIR = 2;
const F_LOCAL_ZIP64 = 4;
/** Sizes and CRC follow the data in a data descriptor (general-purpose bit 3). */
const F_DESCRIPTOR = 8;

const deflateRaw = promisify(deflateRawCb);

/**
 * Worst-case size of raw deflate output for `n` input bytes (zlib's deflateBound for the
 * default window and memory level, plus a margin): decides whether a local header reserves
 * a ZIP64 field before the compressed size is known.
 */
function deflateBound(n: number): number {
  return (
    n +
    Math.floor(n / 4096) +
    Math.floor(n / 16384) +
    Math.floor(n / 33554432) +
    13 +
    // the margin: the final empty block and a few bytes of the stream's own framing
    16
  );
}

export interface ZipWriterOptions {
  /** Deflate level (zlib) of entries that are compressed. */
  level: number;
  /**
   * Use ZIP64 everywhere: a ZIP64 field in every local header and central record, and the
   * ZIP64 end records (tests; large archives get ZIP64 where they need it anyway).
   */
  forceZip64?: boolean;
  /**
   * Tests only: the smallest values that no longer fit in a 16-bit count (default 0xffff)
   * or a 32-bit size or offset (default 0xffffffff), lowered to reach the ZIP64 paths of
   * the entry count and of sizes and offsets without writing 65,535 entries or 4 GiB.
   */
  zip64Thresholds?: { entries?: number; bytes?: number };
  /** The archive's name in error messages. */
  name: string;
  /** Called with the number of input bytes read, as they are read. */
  onInput?: (bytes: number) => void;
  /** Called with the size of the file so far, after each write to it. */
  onOutput?: (bytes: number) => void;
}

export interface ZipWriterSummary {
  /** Size of the archive in bytes. */
  bytes: number;
  /** sha256 of the archive (lowercase hex). */
  sha256: string;
  entries: number;
  stored: number;
  deflated: number;
  /** Whether the ZIP64 end of central directory record and locator were written. */
  zip64: boolean;
}

/**
 * The output file: a buffer of the bytes after `bufStart`, positional writes, and a sha256
 * of every byte in file order, taken as the buffer is written out. Bytes may be patched
 * only while they are still in the buffer (`hold` marks where the patchable part begins);
 * a flush while something is held is a defect of the writer, so every hashed byte is final
 * and nothing is ever read back from the file.
 */
class Output {
  private readonly buf = Buffer.allocUnsafe(OUTPUT_BUFFER);
  private bufStart = 0;
  private bufLen = 0;
  private readonly hash = createHash('sha256');
  private held: number | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly name: string,
    private readonly onOutput: (bytes: number) => void,
  ) {}

  get position(): number {
    return this.bufStart + this.bufLen;
  }

  /** Bytes that can still be appended before the buffer must be written out. */
  get room(): number {
    return this.buf.length - this.bufLen;
  }

  async append(data: Uint8Array): Promise<void> {
    let from = 0;
    while (from < data.length) {
      if (this.bufLen === this.buf.length) await this.flush();
      const n = Math.min(data.length - from, this.buf.length - this.bufLen);
      this.buf.set(data.subarray(from, from + n), this.bufLen);
      this.bufLen += n;
      from += n;
    }
  }

  /** From here on, bytes stay in the buffer until `release`, so that they can be patched. */
  hold(): void {
    this.held = this.position;
  }

  /** Overwrites bytes at `position`, which must lie in the held part of the buffer. */
  patch(position: number, data: Uint8Array): void {
    if (this.held === undefined || position < this.held || position + data.length > this.position) {
      throw new Error(`zip writer defect: patch at ${position} outside the held bytes`);
    }
    this.buf.set(data, position - this.bufStart);
  }

  release(): void {
    this.held = undefined;
  }

  /** Hashes the buffer and writes it to the file. */
  async flush(): Promise<void> {
    if (this.bufLen === 0) return;
    if (this.held !== undefined) {
      throw new Error('zip writer defect: an entry held for patching left the output buffer');
    }
    const data = this.buf.subarray(0, this.bufLen);
    this.hash.update(data);
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(
          data,
          done,
          data.length - done,
          this.bufStart + done,
        );
        done += bytesWritten;
      }
    } catch (err) {
      throw wrapIo(err, `cannot write ${this.name}`, this.name);
    }
    this.bufStart += this.bufLen;
    this.bufLen = 0;
    this.onOutput(this.bufStart);
  }

  /** The sha256 of the file; call after the last flush. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** One entry's record, kept until the central directory is written. */
class Records {
  count = 0;
  names: string[] = [];
  crc = new Uint32Array(1024);
  size = new Float64Array(1024);
  compressedSize = new Float64Array(1024);
  offset = new Float64Array(1024);
  flags = new Uint8Array(1024);

  add(name: string, offset: number, flags: number): number {
    if (this.count === this.crc.length) this.grow();
    const i = this.count++;
    this.names.push(name);
    this.offset[i] = offset;
    this.flags[i] = flags;
    this.crc[i] = 0;
    this.size[i] = 0;
    this.compressedSize[i] = 0;
    return i;
  }

  private grow(): void {
    const n = this.crc.length * 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    const crc = new Uint32Array(n);
    crc.set(this.crc);
    this.crc = crc;
    const flags = new Uint8Array(n);
    flags.set(this.flags);
    this.flags = flags;
    this.size = f64(this.size);
    this.compressedSize = f64(this.compressedSize);
    this.offset = f64(this.offset);
  }
}

/** The fields of one header that depend on the data. */
interface EntryValues {
  name: Buffer;
  method: number;
  crc: number;
  size: number;
  compressedSize: number;
  localZip64: boolean;
  /** CRC and sizes are in a data descriptor: zero here. */
  descriptor: boolean;
  version: number;
}

function localHeader(v: EntryValues): Buffer {
  const b = Buffer.alloc(
    ZIP_LEN.local + v.name.length + (v.localZip64 ? LOCAL_ZIP64_EXTRA_LEN : 0),
  );
  b.writeUInt32LE(ZIP_SIG.local, 0);
  b.writeUInt16LE(v.version, 4);
  b.writeUInt16LE(v.descriptor ? ZIP_FLAG.dataDescriptor : 0, 6);
  b.writeUInt16LE(v.method, 8);
  b.writeUInt16LE(0, 10); // time
  b.writeUInt16LE(ZIP_DOS_DATE_1980, 12);
  b.writeUInt32LE(v.crc, 14);
  b.writeUInt32LE(v.localZip64 ? ZIP64.u32Max : v.compressedSize, 18);
  b.writeUInt32LE(v.localZip64 ? ZIP64.u32Max : v.size, 22);
  b.writeUInt16LE(v.name.length, 26);
  b.writeUInt16LE(v.localZip64 ? LOCAL_ZIP64_EXTRA_LEN : 0, 28);
  v.name.copy(b, ZIP_LEN.local);
  if (v.localZip64) {
    const x = ZIP_LEN.local + v.name.length;
    b.writeUInt16LE(ZIP64.extraId, x);
    b.writeUInt16LE(16, x + 2);
    b.writeBigUInt64LE(BigInt(v.size), x + 4);
    b.writeBigUInt64LE(BigInt(v.compressedSize), x + 12);
  }
  return b;
}

/** The data descriptor of an entry whose local header left CRC and sizes at zero. */
function dataDescriptor(crc: number, size: number, compressedSize: number, wide: boolean): Buffer {
  const b = Buffer.alloc(wide ? ZIP_LEN.dataDescriptor64 : ZIP_LEN.dataDescriptor);
  b.writeUInt32LE(ZIP_SIG.dataDescriptor, 0);
  b.writeUInt32LE(crc, 4);
  if (wide) {
    b.writeBigUInt64LE(BigInt(compressedSize), 8);
    b.writeBigUInt64LE(BigInt(size), 16);
  } else {
    b.writeUInt32LE(compressedSize, 8);
    b.writeUInt32LE(size, 12);
  }
  return b;
}

/** A name as the archive holds it: printable ASCII, `/`-separated. */
function encodeName(name: string): Buffer {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || !/^[\x20-\x7e]+$/.test(name)) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `cannot store ${JSON.stringify(name)} in a zip: names must be 1 to ${MAX_NAME_LENGTH} printable ASCII characters`,
    );
  }
  return Buffer.from(name, 'latin1');
}

function encodeFileName(name: string): Buffer {
  if (name.endsWith('/')) {
    throw new BundleError('INVALID_ARGUMENT', `a file entry cannot end with /: ${name}`);
  }
  return encodeName(name);
}

/** The error for a file whose size differs from the one it had when packing began. */
export function changedWhilePacking(path: string, held: number, expected: number): BundleError {
  return new BundleError(
    'IO_FAILED',
    `${path} holds ${held} bytes, not the ${expected} it had when packing began: it changed while it was being packed; pack again once nothing writes to the bundle`,
    { file: path },
  );
}

/**
 * Writes a zip archive to an open file, from position 0, one entry after the other. The
 * caller opens the file (empty), adds entries in the order they are to appear, calls
 * `finish` once, then syncs and closes the file. After a failure the file holds no valid
 * archive and the writer must not be used again.
 */
export class ZipWriter {
  private readonly out: Output;
  private readonly records = new Records();
  private readonly readBuf = Buffer.allocUnsafe(READ_CHUNK);
  private readonly maxCount: number;
  private readonly maxBytes: number;
  private readonly force: boolean;
  private stored = 0;
  private deflated = 0;
  private finished = false;

  constructor(
    fh: FileHandle,
    private readonly o: ZipWriterOptions,
  ) {
    this.out = new Output(fh, o.name, o.onOutput ?? (() => undefined));
    this.force = o.forceZip64 === true;
    this.maxCount = Math.min(o.zip64Thresholds?.entries ?? ZIP64.u16Max, ZIP64.u16Max);
    this.maxBytes = Math.min(o.zip64Thresholds?.bytes ?? ZIP64.u32Max, ZIP64.u32Max);
  }

  /** Bytes written so far. */
  get position(): number {
    return this.out.position;
  }

  /** Adds a directory entry; `name` ends with `/`. */
  async addDirectory(name: string): Promise<void> {
    this.assertOpen();
    if (!name.endsWith('/')) {
      throw new BundleError('INVALID_ARGUMENT', `a directory entry ends with /: ${name}`);
    }
    const raw = encodeName(name);
    const i = this.records.add(name, this.out.position, F_DIR | (this.force ? F_LOCAL_ZIP64 : 0));
    await this.out.append(localHeader(this.values(i, raw, ZIP_METHOD.stored)));
  }

  /**
   * Adds a file whose whole content is in memory (a small file read ahead by the caller).
   * `store(data)` decides whether it is stored as it is (compressed already) or deflated;
   * an empty file is stored.
   */
  async addData(name: string, data: Buffer, store: (head: Buffer) => boolean): Promise<void> {
    this.assertOpen();
    const raw = encodeFileName(name);
    this.o.onInput?.(data.length);
    await this.writeWhole(name, raw, data, data.length > 0 && !store(data));
  }

  /**
   * Adds the regular file at `path`, `size` bytes long (from stat), streaming its content.
   * `store(head)` decides from the file's first bytes (up to 256 KiB) whether it is stored
   * as it is (compressed already) or deflated; an empty file is stored. Fails when the file
   * does not hold exactly `size` bytes (it changed while it was being written).
   */
  async addFile(
    name: string,
    path: string,
    size: number,
    store: (head: Buffer) => boolean,
  ): Promise<void> {
    this.assertOpen();
    const raw = encodeFileName(name);
    if (size === 0) {
      await this.writeWhole(name, raw, Buffer.alloc(0), false);
      return;
    }
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw wrapIo(err, `cannot read ${path}`, path);
    }
    try {
      const first = await this.readFull(fh, path, 0);
      const deflate = !store(this.readBuf.subarray(0, first));
      if (first < this.readBuf.length) {
        // The whole file is in the read buffer.
        if (first !== size) throw changedWhilePacking(path, first, size);
        await this.writeWhole(name, raw, this.readBuf.subarray(0, first), deflate);
        return;
      }
      const method = deflate ? ZIP_METHOD.deflated : ZIP_METHOD.stored;
      const largest = deflate ? deflateBound(size) : size;
      const localZip64 = this.force || largest >= this.maxBytes;
      const headerLength = ZIP_LEN.local + raw.length + (localZip64 ? LOCAL_ZIP64_EXTRA_LEN : 0);
      // Completed in the buffer when the whole entry surely fits there; else a descriptor.
      const descriptor = headerLength + largest > OUTPUT_BUFFER;
      if (!descriptor && headerLength + largest > this.out.room) await this.out.flush();
      const start = this.out.position;
      const i = this.records.add(
        name,
        start,
        (deflate ? F_DEFLATED : 0) |
          (localZip64 ? F_LOCAL_ZIP64 : 0) |
          (descriptor ? F_DESCRIPTOR : 0),
      );
      if (!descriptor) this.out.hold();
      // CRC and sizes are zero here: patched below, or in the descriptor after the data.
      await this.out.append(localHeader(this.values(i, raw, method)));
      const r = this.records;
      if (deflate) await this.writeDeflated(fh, path, first, size, i);
      else await this.writeStored(fh, path, first, size, i);
      if (r.size[i] !== size) throw changedWhilePacking(path, r.size[i], size);
      if (!localZip64 && r.compressedSize[i] >= this.maxBytes) {
        // deflateBound rules this out; a defect, not a condition of the input.
        throw new BundleError(
          'IO_FAILED',
          `${path} deflated to ${r.compressedSize[i]} bytes, past the ${largest} the local header of ${name} allowed for`,
          { file: path },
        );
      }
      if (descriptor) {
        await this.out.append(dataDescriptor(r.crc[i], r.size[i], r.compressedSize[i], localZip64));
      } else {
        this.out.patch(start, localHeader(this.values(i, raw, method)));
        this.out.release();
      }
      if (deflate) this.deflated++;
      else this.stored++;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * Writes the central directory and the end records and flushes. Returns what was
   * written; the caller syncs and closes the file.
   */
  async finish(): Promise<ZipWriterSummary> {
    this.assertOpen();
    this.finished = true;
    const r = this.records;
    const dirOffset = this.out.position;
    for (let i = 0; i < r.count; i++) await this.out.append(this.centralRecord(i));
    const dirSize = this.out.position - dirOffset;
    const zip64 =
      this.force ||
      r.count >= this.maxCount ||
      dirSize >= this.maxBytes ||
      dirOffset >= this.maxBytes;
    if (zip64) {
      const recordAt = this.out.position;
      const rec = Buffer.alloc(ZIP_LEN.zip64Eocd);
      rec.writeUInt32LE(ZIP_SIG.zip64Eocd, 0);
      rec.writeBigUInt64LE(BigInt(ZIP_LEN.zip64Eocd - 12), 4); // size of the rest of the record
      rec.writeUInt16LE(ZIP_MADE_BY_UNIX | ZIP_VERSION.zip64, 12);
      rec.writeUInt16LE(ZIP_VERSION.zip64, 14);
      rec.writeUInt32LE(0, 16); // this disk
      rec.writeUInt32LE(0, 20); // disk of the central directory
      rec.writeBigUInt64LE(BigInt(r.count), 24);
      rec.writeBigUInt64LE(BigInt(r.count), 32);
      rec.writeBigUInt64LE(BigInt(dirSize), 40);
      rec.writeBigUInt64LE(BigInt(dirOffset), 48);
      const loc = Buffer.alloc(ZIP_LEN.zip64Locator);
      loc.writeUInt32LE(ZIP_SIG.zip64Locator, 0);
      loc.writeUInt32LE(0, 4); // disk of the ZIP64 end record
      loc.writeBigUInt64LE(BigInt(recordAt), 8);
      loc.writeUInt32LE(1, 16); // disks in all
      await this.out.append(rec);
      await this.out.append(loc);
    }
    // With ZIP64 end records, the classic record marks every field as "see ZIP64".
    const eocd = Buffer.alloc(ZIP_LEN.eocd);
    eocd.writeUInt32LE(ZIP_SIG.eocd, 0);
    eocd.writeUInt16LE(0, 4); // this disk
    eocd.writeUInt16LE(0, 6); // disk of the central directory
    eocd.writeUInt16LE(zip64 ? ZIP64.u16Max : r.count, 8);
    eocd.writeUInt16LE(zip64 ? ZIP64.u16Max : r.count, 10);
    eocd.writeUInt32LE(zip64 ? ZIP64.u32Max : dirSize, 12);
    eocd.writeUInt32LE(zip64 ? ZIP64.u32Max : dirOffset, 16);
    eocd.writeUInt16LE(0, 20); // comment length
    await this.out.append(eocd);
    await this.out.flush();
    return {
      bytes: this.out.position,
      sha256: this.out.digest(),
      entries: r.count,
      stored: this.stored,
      deflated: this.deflated,
      zip64,
    };
  }

  private assertOpen(): void {
    if (this.finished) {
      throw new BundleError('INVALID_ARGUMENT', `${this.o.name} is finished; nothing can be added`);
    }
  }

  /** The header values of record `i` as they stand. */
  private values(i: number, name: Buffer, method: number): EntryValues {
    const r = this.records;
    const localZip64 = (r.flags[i] & F_LOCAL_ZIP64) !== 0;
    return {
      name,
      method,
      crc: r.crc[i],
      size: r.size[i],
      compressedSize: r.compressedSize[i],
      localZip64,
      descriptor: (r.flags[i] & F_DESCRIPTOR) !== 0,
      version:
        localZip64 || this.centralZip64(i).length > 0 ? ZIP_VERSION.zip64 : ZIP_VERSION.default,
    };
  }

  /** The values of record `i` that its central record holds in a ZIP64 field, in order. */
  private centralZip64(i: number): number[] {
    const r = this.records;
    const big = (v: number) => this.force || v >= this.maxBytes;
    const out: number[] = [];
    if (big(r.size[i])) out.push(r.size[i]);
    if (big(r.compressedSize[i])) out.push(r.compressedSize[i]);
    if (big(r.offset[i])) out.push(r.offset[i]);
    return out;
  }

  private centralRecord(i: number): Buffer {
    const r = this.records;
    const name = Buffer.from(r.names[i], 'latin1');
    const wide = this.centralZip64(i);
    const big = (v: number) => this.force || v >= this.maxBytes;
    const dir = (r.flags[i] & F_DIR) !== 0;
    const extraLen = wide.length === 0 ? 0 : 4 + 8 * wide.length;
    const version =
      wide.length > 0 || (r.flags[i] & F_LOCAL_ZIP64) !== 0
        ? ZIP_VERSION.zip64
        : ZIP_VERSION.default;
    const b = Buffer.alloc(ZIP_LEN.central + name.length + extraLen);
    b.writeUInt32LE(ZIP_SIG.central, 0);
    b.writeUInt16LE(ZIP_MADE_BY_UNIX | version, 4);
    b.writeUInt16LE(version, 6);
    b.writeUInt16LE((r.flags[i] & F_DESCRIPTOR) !== 0 ? ZIP_FLAG.dataDescriptor : 0, 8);
    b.writeUInt16LE((r.flags[i] & F_DEFLATED) !== 0 ? ZIP_METHOD.deflated : ZIP_METHOD.stored, 10);
    b.writeUInt16LE(0, 12); // time
    b.writeUInt16LE(ZIP_DOS_DATE_1980, 14);
    b.writeUInt32LE(r.crc[i], 16);
    b.writeUInt32LE(big(r.compressedSize[i]) ? ZIP64.u32Max : r.compressedSize[i], 20);
    b.writeUInt32LE(big(r.size[i]) ? ZIP64.u32Max : r.size[i], 24);
    b.writeUInt16LE(name.length, 28);
    b.writeUInt16LE(extraLen, 30);
    b.writeUInt16LE(0, 32); // comment length
    b.writeUInt16LE(0, 34); // disk
    b.writeUInt16LE(0, 36); // internal attributes
    b.writeUInt32LE(
      dir ? ((ZIP_UNIX.dirMode << 16) | ZIP_DOS_DIRECTORY) >>> 0 : (ZIP_UNIX.fileMode << 16) >>> 0,
      38,
    );
    b.writeUInt32LE(big(r.offset[i]) ? ZIP64.u32Max : r.offset[i], 42);
    name.copy(b, ZIP_LEN.central);
    if (extraLen > 0) {
      let x = ZIP_LEN.central + name.length;
      b.writeUInt16LE(ZIP64.extraId, x);
      b.writeUInt16LE(8 * wide.length, x + 2);
      x += 4;
      for (const v of wide) {
        b.writeBigUInt64LE(BigInt(v), x);
        x += 8;
      }
    }
    return b;
  }

  /** Writes an entry whose content is in memory: its header is complete from the start. */
  private async writeWhole(name: string, raw: Buffer, data: Buffer, deflate: boolean) {
    const packed = deflate ? await deflateRaw(data, { level: this.o.level }) : data;
    const localZip64 = this.force || Math.max(data.length, packed.length) >= this.maxBytes;
    const i = this.records.add(
      name,
      this.out.position,
      (deflate ? F_DEFLATED : 0) | (localZip64 ? F_LOCAL_ZIP64 : 0),
    );
    const r = this.records;
    r.crc[i] = crc32(data);
    r.size[i] = data.length;
    r.compressedSize[i] = packed.length;
    await this.out.append(
      localHeader(this.values(i, raw, deflate ? ZIP_METHOD.deflated : ZIP_METHOD.stored)),
    );
    await this.out.append(packed);
    if (deflate) this.deflated++;
    else this.stored++;
  }

  /** Fills the read buffer from `position`; fewer bytes than its length means end of file. */
  private async readFull(fh: FileHandle, path: string, position: number): Promise<number> {
    let got = 0;
    try {
      while (got < this.readBuf.length) {
        const { bytesRead } = await fh.read(
          this.readBuf,
          got,
          this.readBuf.length - got,
          position + got,
        );
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw wrapIo(err, `cannot read ${path}`, path);
    }
    this.o.onInput?.(got);
    return got;
  }

  /**
   * Streams a file stored as it is. `size` is what stat said: a file found longer fails
   * before the excess is written (it could overrun the room its header was given).
   */
  private async writeStored(fh: FileHandle, path: string, first: number, size: number, i: number) {
    const r = this.records;
    let n = first;
    let pos = 0;
    let crc = 0;
    for (;;) {
      if (pos + n > size) throw changedWhilePacking(path, pos + n, size);
      const chunk = this.readBuf.subarray(0, n);
      crc = crc32(chunk, crc);
      await this.out.append(chunk);
      pos += n;
      if (n < this.readBuf.length) break;
      n = await this.readFull(fh, path, pos);
    }
    r.crc[i] = crc;
    r.size[i] = pos;
    r.compressedSize[i] = pos;
  }

  /** Streams a file through raw deflate; a file found longer than `expected` fails. */
  private async writeDeflated(
    fh: FileHandle,
    path: string,
    first: number,
    expected: number,
    i: number,
  ) {
    const r = this.records;
    let crc = 0;
    let size = 0;
    let compressed = 0;
    const readBuf = this.readBuf;
    const readFull = (pos: number) => this.readFull(fh, path, pos);
    async function* input(): AsyncGenerator<Buffer> {
      let n = first;
      for (;;) {
        if (size + n > expected) throw changedWhilePacking(path, size + n, expected);
        // A copy: the deflate stream may still hold a chunk when the buffer is refilled.
        const chunk = Buffer.from(readBuf.subarray(0, n));
        crc = crc32(chunk, crc);
        size += n;
        yield chunk;
        if (n < readBuf.length) return;
        n = await readFull(size);
        if (n === 0) return;
      }
    }
    await pipeline(
      input(),
      createDeflateRaw({ level: this.o.level }),
      async (deflated: AsyncIterable<Buffer>) => {
        for await (const chunk of deflated) {
          compressed += chunk.length;
          await this.out.append(chunk);
        }
      },
    );
    r.crc[i] = crc;
    r.size[i] = size;
    r.compressedSize[i] = compressed;
  }
}
