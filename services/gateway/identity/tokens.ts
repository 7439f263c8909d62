/**
 * Signed, self-contained tokens for the local identity mode.
 *
 *   zun1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "zun1." + claims))>
 *
 * Any gateway holding the same key verifies any other's tokens, and tokens
 * survive restarts: nothing is stored. The claims name the user, the project
 * (null for an unscoped token), the roles at issue time and the expiry; the
 * caller still checks expiry (with its clock), revocation and that the user
 * and project still exist (see local.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'zun1';
/** Longer strings are refused before any work is done. */
export const MAX_TOKEN_LENGTH = 4096;

export interface TokenClaims {
  /** Token id; also Keystone's audit id. */
  readonly jti: string;
  readonly uid: string;
  /** Project id; null for an unscoped token. */
  readonly pid: string | null;
  readonly roles: readonly string[];
  readonly methods: readonly string[];
  /** Issued at / expires at, ms since the epoch. */
  readonly iat: number;
  readonly exp: number;
}

export interface TokenCodec {
  sign(claims: TokenClaims): string;
  /** The claims when the signature holds and the shape is right; null otherwise. Expiry is not checked here. */
  verify(token: string): TokenClaims | null;
}

const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function claimsOf(v: unknown): TokenClaims | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o['jti'] !== 'string' || typeof o['uid'] !== 'string') return null;
  if (o['pid'] !== null && typeof o['pid'] !== 'string') return null;
  if (!isStrList(o['roles']) || !isStrList(o['methods'])) return null;
  if (!Number.isSafeInteger(o['iat']) || !Number.isSafeInteger(o['exp'])) return null;
  return {
    jti: o['jti'],
    uid: o['uid'],
    pid: o['pid'] as string | null,
    roles: o['roles'],
    methods: o['methods'],
    iat: o['iat'] as number,
    exp: o['exp'] as number,
  };
}

export function createTokenCodec(key: Buffer): TokenCodec {
  const mac = (data: string) => createHmac('sha256', key).update(data).digest();
  return {
    sign(claims) {
      const head = `${TOKEN_PREFIX}.${Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url')}`;
      return `${head}.${mac(head).toString('base64url')}`;
    },
    verify(token) {
      if (token.length > MAX_TOKEN_LENGTH) return null;
      const parts = token.split('.');
      if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) return null;
      const head = `${parts[0]}.${parts[1]}`;
      const given = Buffer.from(parts[2]!, 'base64url');
      const want = mac(head);
      if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
      try {
        return claimsOf(JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')));
      } catch {
        return null;
      }
    },
  };
}
