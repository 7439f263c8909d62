import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBindFileStore, decodeBase64 } from './bind-file.js';

describe('bind-type file injection', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const store = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'zun-bind-'));
    dirs.push(d);
    return { d, files: createBindFileStore({ stateDir: d }) };
  };

  it('writes the decoded content to <STATE_DIR>/mnt/<id>/<id>, idempotently', async () => {
    const { d, files } = store();
    const content = Buffer.from([0, 1, 2, 255, 10]);
    const { source } = await files.inject({ id: 'v1', contentBase64: content.toString('base64') });
    expect(source).toBe(path.join(d, 'mnt', 'v1', 'v1'));
    expect(readFileSync(source)).toEqual(content);
    expect(statSync(source).mode & 0o777).toBe(0o644);
    await files.inject({ id: 'v1', contentBase64: content.toString('base64') });
    expect(readFileSync(source)).toEqual(content);
    expect(await files.exists({ id: 'v1' })).toBe(true);
    await files.remove({ id: 'v1' });
    expect(existsSync(path.dirname(source))).toBe(false);
    expect(await files.exists({ id: 'v1' })).toBe(false);
  });

  it('refuses invalid base64 and unsafe ids', async () => {
    const { files } = store();
    await expect(files.inject({ id: 'v1', contentBase64: 'abc' })).rejects.toMatchObject({ code: 'INVALID' });
    await expect(files.inject({ id: '../x', contentBase64: '' })).rejects.toMatchObject({ code: 'INVALID' });
  });

  it('decodes base64 strictly, allowing whitespace', () => {
    expect(decodeBase64('aGVs\nbG8=')?.toString()).toBe('hello');
    expect(decodeBase64('')?.length).toBe(0);
    expect(decodeBase64('a$==')).toBeNull();
    expect(decodeBase64('aGVsbG8')).toBeNull();
  });
});
