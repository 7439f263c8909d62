/**
 * Python's `shlex.split(s)` (POSIX mode, no comments), which Zun applies to a
 * string `command` before microversion 1.20.
 *
 * Pure. Throws ShlexError with Python's messages on an unclosed quote or a
 * trailing escape.
 */
export class ShlexError extends Error {
  readonly code = 'SHLEX_ERROR';
  constructor(message: string) {
    super(message);
    this.name = 'ShlexError';
  }
}

const WHITESPACE = new Set([' ', '\t', '\r', '\n']);

export function shlexSplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (WHITESPACE.has(c)) {
      if (inToken) {
        out.push(cur);
        cur = '';
        inToken = false;
      }
      i++;
      continue;
    }
    inToken = true;
    if (c === '\\') {
      if (i + 1 >= s.length) throw new ShlexError('No escaped character');
      cur += s[i + 1];
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ShlexError('No closing quotation');
      cur += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new ShlexError('No closing quotation');
        const d = s[i]!;
        if (d === '"') {
          i++;
          break;
        }
        // Inside double quotes a backslash escapes only `"` and itself.
        if (d === '\\' && i + 1 < s.length && (s[i + 1] === '"' || s[i + 1] === '\\')) {
          cur += s[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
    } else {
      cur += c;
      i++;
    }
  }
  if (inToken) out.push(cur);
  return out;
}
