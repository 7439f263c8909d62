/**
 * Password hashes for the local users file: scrypt from node:crypto.
 *
 * Encoded as `scrypt$<N>$<r>$<p>$<salt, base64>$<key, base64>` so the cost
 * travels with the hash and can be raised without breaking old entries.
 * Verification is constant-time in the key comparison and runs off the event
 * loop (crypto.scrypt is asynchronous).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export const PASSWORD_SCHEME = 'scrypt';

/** Default cost: N=2^15, r=8 (32 MiB, ~60-100 ms here). */
export const DEFAULT_SCRYPT = { N: 32768, r: 8, p: 1 } as const;
const KEY_LEN = 32;

export class PasswordHashError extends Error {
  readonly code = 'PASSWORD_HASH_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'PasswordHashError';
  }
}

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

const maxmem = (N: number, r: number, p: number) => 128 * N * r * (p + 1) + 1024 * 1024;

export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LEN, { ...cost, maxmem: maxmem(cost.N, cost.r, cost.p) });
  return [PASSWORD_SCHEME, cost.N, cost.r, cost.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export interface ParsedHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** Checks the shape of an encoded hash; throws PasswordHashError. */
export function parsePasswordHash(encoded: string): ParsedHash {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== PASSWORD_SCHEME) {
    throw new PasswordHashError('not a scrypt password hash (expected scrypt$N$r$p$salt$key; make one with identity/hash-password.ts)');
  }
  const [N, r, p] = parts.slice(1, 4).map((x) => Number(x)) as [number, number, number];
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20) throw new PasswordHashError('scrypt N must be a power of two up to 2^20');
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) throw new PasswordHashError('scrypt r or p out of range');
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16) throw new PasswordHashError('scrypt salt or key too short');
  return { N, r, p, salt, key };
}

export async function verifyPassword(password: string, encoded: string | ParsedHash): Promise<boolean> {
  const h = typeof encoded === 'string' ? parsePasswordHash(encoded) : encoded;
  const key = await scrypt(password, h.salt, h.key.length, { N: h.N, r: h.r, p: h.p, maxmem: maxmem(h.N, h.r, h.p) });
  return key.length === h.key.length && timingSafeEqual(key, h.key);
}
