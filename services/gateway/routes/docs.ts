/**
 * The API's description: GET /openapi.json (openapi.ts) and GET /docs, a
 * self-contained HTML page rendered on the server from the same document:
 * no script, no stylesheet or font from elsewhere, nothing fetched. Public.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { openApiDocument, pathShape } from '../openapi.js';

export interface DocsRoutesOptions {
  readonly baseUrlOf: (req: FastifyRequest) => string;
}

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const METHOD_ORDER = ['get', 'post', 'put', 'patch', 'delete'];

/** A schema as short text: `$ref`s by name, objects by their properties. */
function schemaText(s: unknown, depth = 0): string {
  if (!isObj(s)) return '';
  if (typeof s['$ref'] === 'string') {
    const name = s['$ref'].split('/').pop()!;
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  if (Array.isArray(s['oneOf'])) return s['oneOf'].map((x) => schemaText(x, depth)).join(' | ');
  if (s['type'] === 'array') return `[${schemaText(s['items'], depth)}]`;
  if (s['type'] === 'object' && isObj(s['properties']) && depth < 3) {
    const props = Object.entries(s['properties']).map(([k, v]) => `${esc(k)}: ${schemaText(v, depth + 1)}`);
    return `{${props.join(', ')}}`;
  }
  const t = s['type'] === undefined ? (s['nullable'] ? 'null' : 'any') : esc(s['type']);
  return s['nullable'] && s['type'] !== undefined ? `${t}?` : t;
}

function schemaTable(name: string, s: Obj): string {
  const props = isObj(s['properties']) ? Object.entries(s['properties']) : [];
  const required = new Set(Array.isArray(s['required']) ? (s['required'] as string[]) : []);
  const rows = props
    .map(([k, v]) => {
      const d = isObj(v) && typeof v['description'] === 'string' ? esc(v['description']) : '';
      return `<tr><td><code>${esc(k)}</code>${required.has(k) ? ' <span class="req">required</span>' : ''}</td><td>${schemaText(v)}</td><td>${d}</td></tr>`;
    })
    .join('');
  return `<section class="schema" id="schema-${esc(name)}"><h3>${esc(name)}</h3>${
    rows ? `<table><tr><th>field</th><th>type</th><th></th></tr>${rows}</table>` : `<p>${schemaText(s)}</p>`
  }</section>`;
}

/** The page. Pure: the document in, HTML out. */
export function renderDocs(doc: Obj): string {
  const info = isObj(doc['info']) ? doc['info'] : {};
  const paths = isObj(doc['paths']) ? doc['paths'] : {};
  const tags = Array.isArray(doc['tags']) ? (doc['tags'] as Obj[]) : [];
  const byTag = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(paths)) {
    if (!isObj(ops)) continue;
    for (const method of METHOD_ORDER) {
      const op = ops[method];
      if (!isObj(op)) continue;
      const tag = Array.isArray(op['tags']) ? String(op['tags'][0]) : 'other';
      const served = op['x-served'] !== false;
      const params = Array.isArray(op['parameters']) ? (op['parameters'] as Obj[]) : [];
      const paramRows = params
        .map((p) => `<tr><td><code>${esc(p['name'])}</code></td><td>${esc(p['in'])}${p['required'] ? ' <span class="req">required</span>' : ''}</td><td>${esc(p['description'] ?? '')}</td></tr>`)
        .join('');
      const body = isObj(op['requestBody']) ? ((op['requestBody']['content'] as Obj)?.['application/json'] as Obj | undefined)?.['schema'] : undefined;
      const responses = isObj(op['responses'])
        ? Object.entries(op['responses'])
            .map(([status, r]) => {
              const rr = isObj(r) ? r : {};
              const schema = ((rr['content'] as Obj | undefined)?.['application/json'] as Obj | undefined)?.['schema'];
              return `<li><b class="st st${esc(status[0])}">${esc(status)}</b> ${esc(rr['description'] ?? '')}${schema ? ` <span class="schema-inline">${schemaText(schema)}</span>` : ''}</li>`;
            })
            .join('')
        : '';
      const versions = `${esc(op['x-min-version'] ?? '')}${op['x-max-version'] ? ` - ${esc(op['x-max-version'])}` : '+'}`;
      const id = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, '-');
      const html = `<details class="op${served ? '' : ' unserved'}" id="${esc(id)}">
<summary><span class="m m-${method}">${method.toUpperCase()}</span> <code class="path">${esc(path)}</code> <span class="sum">${esc(op['summary'] ?? '')}</span>${
        served ? '' : ' <span class="badge">not yet served</span>'
      }</summary>
<div class="body">
${op['description'] ? `<p>${esc(op['description'])}</p>` : ''}
<p class="meta">microversion ${versions}${op['x-policy'] ? ` &middot; policy <code>${esc(op['x-policy'])}</code>` : ''}</p>
${paramRows ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th></th></tr>${paramRows}</table>` : ''}
${body ? `<h4>Body (application/json)</h4><p>${schemaText(body)}</p>` : ''}
<h4>Responses</h4><ul>${responses}</ul>
</div></details>`;
      byTag.set(tag, [...(byTag.get(tag) ?? []), html]);
    }
  }
  const sections = tags
    .filter((t) => byTag.has(String(t['name'])))
    .map((t) => `<section class="tag" id="tag-${esc(String(t['name']).replace(/\s+/g, '-'))}"><h2>${esc(t['name'])}</h2><p class="tagdesc">${esc(t['description'] ?? '')}</p>${byTag.get(String(t['name']))!.join('\n')}</section>`)
    .join('\n');
  const nav = tags
    .filter((t) => byTag.has(String(t['name'])))
    .map((t) => `<a href="#tag-${esc(String(t['name']).replace(/\s+/g, '-'))}">${esc(t['name'])}</a>`)
    .join(' ');
  const schemas = isObj(doc['components']) && isObj(doc['components']['schemas']) ? Object.entries(doc['components']['schemas']) : [];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info['title'] ?? 'API')}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2a3a;color:#fff;padding:18px 28px}header h1{margin:0 0 6px;font-size:20px}
header p{margin:0;max-width:1100px;color:#cfd8e3}nav{padding:10px 28px;background:#fff;border-bottom:1px solid #dde1e7;position:sticky;top:0}
nav a{margin-right:14px;color:#2559a8;text-decoration:none}main{padding:8px 28px 40px;max-width:1200px}
h2{margin:26px 0 4px;font-size:18px}.tagdesc{margin:0 0 10px;color:#5a6575}
details.op{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:6px 0}details.op.unserved{opacity:.7}
summary{cursor:pointer;padding:8px 12px;list-style:none}summary::-webkit-details-marker{display:none}
.m{display:inline-block;min-width:58px;text-align:center;font-weight:700;font-size:12px;border-radius:4px;padding:2px 6px;color:#fff}
.m-get{background:#2e7d32}.m-post{background:#1565c0}.m-put{background:#8d6e00}.m-patch{background:#6a1b9a}.m-delete{background:#c62828}
.path{font-weight:600}.sum{color:#5a6575;margin-left:8px}.badge{background:#fff3cd;color:#7a5b00;border:1px solid #e6d38a;border-radius:10px;padding:1px 8px;font-size:12px;margin-left:8px}
.body{padding:4px 16px 12px;border-top:1px solid #eef0f3}.meta{color:#5a6575}table{border-collapse:collapse;margin:4px 0}
td,th{border:1px solid #e3e6eb;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f1f3f6}
.req{color:#c62828;font-size:11px}.st{display:inline-block;min-width:34px}.st2{color:#2e7d32}.st3{color:#1565c0}.st4{color:#b26a00}.st5{color:#c62828}
.schema-inline{color:#3c4656;font-family:ui-monospace,monospace;font-size:12px}section.schema{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:4px 14px;margin:8px 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
</style></head><body>
<header><h1>${esc(info['title'] ?? '')} <small>${esc(info['version'] ?? '')}</small></h1><p>${esc(info['description'] ?? '')}</p></header>
<nav>${nav} <a href="#schemas">schemas</a> <a href="/openapi.json">openapi.json</a></nav>
<main>
${sections}
<section id="schemas"><h2>Schemas</h2>${schemas.map(([n, s]) => schemaTable(n, isObj(s) ? s : {})).join('\n')}</section>
</main></body></html>
`;
}

export const docsRoutes: FastifyPluginAsync<DocsRoutesOptions> = async (app, opts) => {
  // The live route table (app.ts records every route): an operation is "served" when it is registered.
  const isServed = (method: string, path: string) => {
    const shape = pathShape(path);
    return (app.registeredRoutes ?? []).some((r) => r.method === method && pathShape(r.url) === shape);
  };
  const doc = (req: FastifyRequest) => openApiDocument({ serverUrl: opts.baseUrlOf(req), isServed });
  app.get('/openapi.json', async (req) => doc(req));
  app.get('/docs', async (req, reply) => reply.type('text/html; charset=utf-8').send(renderDocs(doc(req))));
};
