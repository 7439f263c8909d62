/**
 * The gateway's secret and the keys derived from it.
 *
 * One random 32-byte secret per deployment, from GATEWAY_SECRET or a file
 * (default `<STATE_DIR>/gateway/secret.key`, created with mode 0600 on first
 * start; two gateways starting together agree, because the file is created
 * exclusively and the loser reads the winner's). Every gateway instance that
 * shares it accepts the others' tokens, and tokens survive restarts.
 *
 * Keys are derived with HKDF-SHA256, one per purpose, so the token MAC key
 * never doubles as the registry-password encryption key.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export class SecretError extends Error {
  readonly code = 'SECRET_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretError';
  }
}

const MIN_SECRET_BYTES = 32;

/** The secret from a configured value (at least 32 bytes of text). */
export function secretFromValue(value: string): Buffer {
  const b = Buffer.from(value, 'utf8');
  if (b.length < MIN_SECRET_BYTES) throw new SecretError(`GATEWAY_SECRET must be at least ${MIN_SECRET_BYTES} bytes`);
  return b;
}

/** Reads the secret file, creating it (0600, 32 random bytes, base64) when absent. */
export async function loadOrCreateSecret(path: string): Promise<{ secret: Buffer; created: boolean }> {
  const read = async () => {
    const text = (await readFile(path, 'utf8')).trim();
    const b = Buffer.from(text, 'base64');
    if (b.length < MIN_SECRET_BYTES) throw new SecretError(`${path} holds fewer than ${MIN_SECRET_BYTES} bytes (base64)`);
    return b;
  };
  try {
    return { secret: await read(), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e instanceof SecretError ? e : new SecretError(`cannot read ${path}`, { cause: e });
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, `${randomBytes(MIN_SECRET_BYTES).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
    return { secret: await read(), created: true };
  } catch (e) {
    // Another instance created it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { secret: await read(), created: false };
    throw new SecretError(`cannot create ${path}`, { cause: e });
  }
}

export type KeyPurpose = 'token-mac' | 'registry-password';

export function deriveKey(secret: Buffer, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `zun-gateway/${purpose}/v1`, 32));
}

/** Authenticated encryption for values that must not enter the event log in clear. */
export interface SecretBox {
  seal(plain: string): string;
  /** Throws SecretError when the ciphertext was not made with this key or was altered. */
  open(sealed: string): string;
}

/** AES-256-GCM; `v1.<iv>.<ciphertext>.<tag>` in base64url. */
export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new SecretError('a secret box needs a 32-byte key');
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return ['v1', iv.toString('base64url'), ct.toString('base64url'), c.getAuthTag().toString('base64url')].join('.');
    },
    open(sealed) {
      const parts = sealed.split('.');
      if (parts.length !== 4 || parts[0] !== 'v1') throw new SecretError('not a sealed value');
      try {
        const d = createDecipheriv('aes-256-gcm', key, Buffer.from(parts[1]!, 'base64url'));
        d.setAuthTag(Buffer.from(parts[3]!, 'base64url'));
        return Buffer.concat([d.update(Buffer.from(parts[2]!, 'base64url')), d.final()]).toString('utf8');
      } catch (cause) {
        throw new SecretError('the sealed value does not open with this key', { cause });
      }
    },
  };
}
