import { createHash, createPublicKey, verify as cryptoVerify, randomBytes } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { canonicalJson } from './canonical.js';
import { FormatError } from './errors.js';

// noble needs a synchronous SHA-512 for its sync API; node:crypto provides it.
ed.hashes.sha512 = (m: Uint8Array) => new Uint8Array(createHash('sha512').update(m).digest());

const HEX64 = /^[0-9a-f]{64}$/;

/** The public key object as it appears in root.json `keys` (and in `.pub` key files). */
export interface TufPublicKey {
  keytype: 'ed25519';
  scheme: 'ed25519';
  keyval: { public: string };
}

/** A private key file (`.sec`): the public key object plus the 32-byte seed in hex. */
export interface TufPrivateKeyFile {
  keytype: 'ed25519';
  scheme: 'ed25519';
  keyval: { public: string; private: string };
}

/** An ed25519 signing key held in memory. `seed` is secret: never log it. */
export interface SigningKey {
  readonly keyid: string;
  readonly publicKey: TufPublicKey;
  readonly seed: Uint8Array;
}

export function publicKeyObject(publicHex: string): TufPublicKey {
  return { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: publicHex } };
}

/** TUF key id: sha256 over the canonical JSON of the public key object. */
export function keyIdOf(key: TufPublicKey): string {
  return createHash('sha256').update(canonicalJson(key)).digest('hex');
}

export function generateSigningKey(): SigningKey {
  return signingKeyFromSeed(new Uint8Array(randomBytes(32)));
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  if (seed.length !== 32) throw new FormatError('INVALID_KEY', 'an ed25519 seed is 32 bytes');
  const pub = Buffer.from(ed.getPublicKey(seed)).toString('hex');
  const publicKey = publicKeyObject(pub);
  return { keyid: keyIdOf(publicKey), publicKey, seed };
}

/** Signs bytes; returns the signature as lowercase hex (the TUF 1.0 form tuf-js reads). */
export function signBytes(key: SigningKey, message: Uint8Array): string {
  return Buffer.from(ed.sign(message, key.seed)).toString('hex');
}

/**
 * Verifies an ed25519 signature with node:crypto (OpenSSL semantics, the verifier tuf-js
 * uses), so host and device accept exactly the same signatures.
 */
export function verifyBytes(key: TufPublicKey, message: Uint8Array, sigHex: string): boolean {
  if (!/^[0-9a-f]{128}$/.test(sigHex)) return false;
  try {
    const der = Buffer.concat([
      Buffer.from('302a300506032b6570032100', 'hex'),
      Buffer.from(key.keyval.public, 'hex'),
    ]);
    const pk = createPublicKey({ key: der, format: 'der', type: 'spki' });
    return cryptoVerify(null, message, pk, Buffer.from(sigHex, 'hex'));
  } catch {
    return false;
  }
}

/** Validates an untrusted public key object (from root.json or a `.pub` file). */
export function parsePublicKey(value: unknown, where: string): TufPublicKey {
  const v = value as Partial<TufPublicKey> | null;
  if (
    v === null ||
    typeof v !== 'object' ||
    v.keytype !== 'ed25519' ||
    v.scheme !== 'ed25519' ||
    typeof v.keyval !== 'object' ||
    v.keyval === null ||
    typeof v.keyval.public !== 'string' ||
    !HEX64.test(v.keyval.public)
  ) {
    throw new FormatError(
      'INVALID_KEY',
      `${where}: expected an ed25519 key {"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"<64 hex>"}}`,
    );
  }
  return publicKeyObject(v.keyval.public);
}

export function privateKeyFile(key: SigningKey): TufPrivateKeyFile {
  return {
    keytype: 'ed25519',
    scheme: 'ed25519',
    keyval: { public: key.publicKey.keyval.public, private: Buffer.from(key.seed).toString('hex') },
  };
}

/** Reads a `.sec` key file's JSON and checks that the seed matches the public key in it. */
export function parsePrivateKeyFile(value: unknown, where: string): SigningKey {
  const v = value as Partial<TufPrivateKeyFile> | null;
  const priv = v?.keyval?.private;
  if (typeof priv !== 'string' || !HEX64.test(priv)) {
    throw new FormatError(
      'INVALID_KEY',
      `${where}: not an ed25519 private key file (keyval.private must be 64 hex)`,
    );
  }
  const key = signingKeyFromSeed(new Uint8Array(Buffer.from(priv, 'hex')));
  if (v?.keyval?.public !== undefined && v.keyval.public !== key.publicKey.keyval.public) {
    throw new FormatError('INVALID_KEY', `${where}: the private key does not match its public key`);
  }
  return key;
}
