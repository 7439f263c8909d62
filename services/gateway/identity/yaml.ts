/**
 * A small YAML subset, enough for the users file (etc/users.example.yaml):
 * block mappings and sequences by indentation (spaces only), `- key: value`
 * items, flow sequences and mappings (`[a, b]`, `{a: b}`), plain, 'single'
 * and "double" quoted scalars, `#` comments, `true/false/null/~`, integers
 * and decimals, and a leading `---`.
 *
 * Anything else (anchors, tags, block scalars `|`/`>`, multi-line plain
 * scalars, tabs in indentation, duplicate keys) is refused with the line
 * number, rather than guessed at. Pure; no dependency (the project has no
 * YAML package; JSON files are read with JSON.parse instead).
 */

export class YamlSubsetError extends Error {
  readonly code = 'YAML_UNSUPPORTED';
  constructor(message: string, readonly line: number) {
    super(`line ${line}: ${message}`);
    this.name = 'YamlSubsetError';
  }
}

interface Line {
  readonly no: number;
  readonly indent: number;
  readonly text: string;
}

/** Drops a `#` comment that is outside quotes and starts the line or follows a blank. */
function stripComment(s: string, no: number): string {
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (quote === '"' && c === '\\') i++;
      else if (c === quote) {
        if (quote === "'" && s[i + 1] === "'") i++;
        else quote = null;
      }
    } else if (c === '"' || c === "'") {
      // Quotes only open a quoted scalar at the start of a token.
      const prev = i === 0 ? ' ' : s[i - 1]!;
      if (/[\s:[{,-]/.test(prev)) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) {
      return s.slice(0, i).trimEnd();
    }
  }
  if (quote) throw new YamlSubsetError('unterminated quoted string', no);
  return s.trimEnd();
}

function lex(src: string): Line[] {
  const out: Line[] = [];
  src.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const no = i + 1;
    const lead = /^[ \t]*/.exec(raw)![0];
    if (lead.includes('\t') && raw.trim() !== '') throw new YamlSubsetError('tabs are not allowed in indentation', no);
    const text = stripComment(raw.slice(lead.length), no);
    if (text === '') return;
    if (out.length === 0 && text === '---') return;
    if (text === '---' || text === '...') throw new YamlSubsetError('only one document is supported', no);
    out.push({ no, indent: lead.length, text });
  });
  return out;
}

const KEY_RE = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#[\]{},&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/;

function splitKey(text: string): { key: string; rest: string } | null {
  const m = KEY_RE.exec(text);
  if (!m) return null;
  return { key: m[1]!, rest: (m[2] ?? '').trim() };
}

const isSeqItem = (text: string) => text === '-' || text.startsWith('- ');

class Parser {
  private i = 0;
  constructor(private readonly lines: Line[]) {}

  parseDocument(): unknown {
    if (this.lines.length === 0) return null;
    const v = this.parseNode(this.lines[0]!.indent);
    const extra = this.lines[this.i];
    if (extra) throw new YamlSubsetError('unexpected indentation', extra.no);
    return v;
  }

  private parseNode(indent: number): unknown {
    const line = this.lines[this.i]!;
    if (isSeqItem(line.text)) return this.parseSeq(indent);
    if (splitKey(line.text)) return this.parseMap(indent);
    this.i++;
    return scalar(line.text, line.no);
  }

  private parseSeq(indent: number): unknown[] {
    const out: unknown[] = [];
    for (;;) {
      const line = this.lines[this.i];
      if (!line || line.indent < indent) return out;
      if (line.indent > indent) throw new YamlSubsetError('unexpected indentation', line.no);
      if (!isSeqItem(line.text)) return out;
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        this.i++;
        const next = this.lines[this.i];
        out.push(next && next.indent > indent ? this.parseNode(next.indent) : null);
        continue;
      }
      // `- key: value` or `- - x`: the rest is a node indented where it starts.
      const offset = line.text.length - rest.length;
      if (splitKey(rest) || isSeqItem(rest)) {
        (this.lines as Line[])[this.i] = { no: line.no, indent: line.indent + offset, text: rest };
        out.push(this.parseNode(line.indent + offset));
      } else {
        this.i++;
        out.push(scalar(rest, line.no));
      }
    }
  }

  private parseMap(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (;;) {
      const line = this.lines[this.i];
      if (!line || line.indent < indent) return out;
      if (line.indent > indent) throw new YamlSubsetError('unexpected indentation', line.no);
      if (isSeqItem(line.text)) return out;
      const kv = splitKey(line.text);
      if (!kv) throw new YamlSubsetError(`expected "key: value", found ${JSON.stringify(line.text)}`, line.no);
      const key = String(scalar(kv.key, line.no));
      if (Object.hasOwn(out, key)) throw new YamlSubsetError(`duplicate key ${JSON.stringify(key)}`, line.no);
      this.i++;
      if (kv.rest !== '') {
        out[key] = scalar(kv.rest, line.no);
        continue;
      }
      const next = this.lines[this.i];
      if (next && next.indent > indent) out[key] = this.parseNode(next.indent);
      else if (next && next.indent === indent && isSeqItem(next.text)) out[key] = this.parseSeq(indent);
      else out[key] = null;
    }
  }
}

function scalar(text: string, no: number): unknown {
  const t = text.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    const f = new FlowParser(t, no);
    const v = f.value();
    f.end();
    return v;
  }
  if (/^[&*!|>%@`]/.test(t)) throw new YamlSubsetError(`unsupported YAML syntax: ${JSON.stringify(t)}`, no);
  if (t.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(t)) throw new YamlSubsetError('malformed double-quoted string', no);
    try {
      return JSON.parse(t) as string;
    } catch {
      throw new YamlSubsetError('unsupported escape in double-quoted string', no);
    }
  }
  if (t.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(t)) throw new YamlSubsetError('malformed single-quoted string', no);
    return t.slice(1, -1).replace(/''/g, "'");
  }
  return plain(t);
}

function plain(t: string): unknown {
  if (t === '~' || t === 'null' || t === 'Null' || t === 'NULL') return null;
  if (/^(true|True|TRUE)$/.test(t)) return true;
  if (/^(false|False|FALSE)$/.test(t)) return false;
  if (/^[-+]?\d+$/.test(t)) return Number.parseInt(t, 10);
  if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number.parseFloat(t);
  return t;
}

class FlowParser {
  private p = 0;
  constructor(private readonly s: string, private readonly no: number) {}

  private ws() {
    while (this.p < this.s.length && /\s/.test(this.s[this.p]!)) this.p++;
  }

  private fail(msg: string): never {
    throw new YamlSubsetError(`${msg} in flow collection ${JSON.stringify(this.s)}`, this.no);
  }

  end() {
    this.ws();
    if (this.p !== this.s.length) this.fail('trailing characters');
  }

  value(): unknown {
    this.ws();
    const c = this.s[this.p];
    if (c === '[') return this.seq();
    if (c === '{') return this.map();
    return this.atom();
  }

  private seq(): unknown[] {
    this.p++;
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.p] === ']') {
      this.p++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      const c = this.s[this.p++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected , or ]');
    }
  }

  private map(): Record<string, unknown> {
    this.p++;
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.s[this.p] === '}') {
      this.p++;
      return out;
    }
    for (;;) {
      const k = String(this.atom(true));
      this.ws();
      if (this.s[this.p++] !== ':') this.fail('expected :');
      if (Object.hasOwn(out, k)) this.fail(`duplicate key ${JSON.stringify(k)}`);
      out[k] = this.value();
      this.ws();
      const c = this.s[this.p++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected , or }');
    }
  }

  private atom(isKey = false): unknown {
    this.ws();
    const start = this.p;
    const c = this.s[this.p];
    if (c === '"' || c === "'") {
      this.p++;
      while (this.p < this.s.length) {
        const d = this.s[this.p]!;
        if (c === '"' && d === '\\') this.p += 2;
        else if (d === c) {
          if (c === "'" && this.s[this.p + 1] === "'") this.p += 2;
          else break;
        } else this.p++;
      }
      if (this.s[this.p] !== c) this.fail('unterminated string');
      this.p++;
      return scalar(this.s.slice(start, this.p), this.no);
    }
    const stop = isKey ? /[:,\]}]/ : /[,\]}]/;
    while (this.p < this.s.length && !stop.test(this.s[this.p]!)) this.p++;
    const t = this.s.slice(start, this.p).trim();
    if (t === '') this.fail('empty value');
    return plain(t);
  }
}

/** Parses the supported subset; throws YamlSubsetError with a line number otherwise. */
export function parseYamlSubset(src: string): unknown {
  return new Parser(lex(src)).parseDocument();
}
