import { describe, expect, it } from 'vitest';
import { comparator, pageContainers, parseListQuery } from './listing.js';
import { negotiate } from './microversion.js';
import { buildUrl, nextLink, pyDatetime } from './views.js';
import type { ContainerState } from '../../domain/container.js';
import { initialContainerState } from '../../domain/container.js';

describe('pyDatetime', () => {
  it('renders str(datetime): microseconds, dropped when zero', () => {
    expect(pyDatetime('2019-05-18T21:02:12.304Z')).toBe('2019-05-18 21:02:12.304000');
    expect(pyDatetime('2019-05-18T21:02:12.304734Z')).toBe('2019-05-18 21:02:12.304734');
    expect(pyDatetime('2019-05-18T21:02:12.000Z')).toBe('2019-05-18 21:02:12');
    expect(pyDatetime('2019-05-18T21:02:12Z')).toBe('2019-05-18 21:02:12');
    expect(pyDatetime('2019-05-18T23:02:12.5+02:00')).toBe('2019-05-18 21:02:12.500000');
    expect(pyDatetime(null)).toBeNull();
  });
});

describe('links', () => {
  it('build_url: bookmarks have no /v1, query args are appended as is', () => {
    expect(buildUrl('http://h', 'containers', 'abc')).toBe('http://h/v1/containers/abc');
    expect(buildUrl('http://h', 'containers', 'abc', true)).toBe('http://h/containers/abc');
    expect(buildUrl('http://h', 'containers', '?limit=1')).toBe('http://h/v1/containers?limit=1');
  });

  it('next only for a full page', () => {
    expect(nextLink('http://h', 'containers', [{ uuid: 'a' }], 2, [])).toBeNull();
    expect(nextLink('http://h', 'containers', [], 0, [])).toBeNull();
    expect(nextLink('http://h', 'containers', [{ uuid: 'a' }, { uuid: 'b' }], 2, [['sort_key', 'id']])).toBe(
      'http://h/v1/containers?sort_key=id&limit=2&marker=b',
    );
  });
});

describe('negotiate', () => {
  it('accepts Python int() spellings of the parts', () => {
    expect(negotiate('container 1.05')).toEqual({ ok: true, version: { major: 1, minor: 5 } });
    expect(negotiate('  container   1.2 ')).toEqual({ ok: true, version: { major: 1, minor: 2 } });
    expect(negotiate(undefined)).toEqual({ ok: true, version: { major: 1, minor: 1 } });
  });
});

describe('listing', () => {
  const mk = (uuid: string, name: string, createdAt: string, memory = 512): ContainerState => ({
    ...initialContainerState(uuid),
    status: 'Created',
    createdAt,
    spec: { name, memory } as ContainerState['spec'],
  });
  const items = [mk('u3', 'b', '2024-01-01T00:00:03Z', 1024), mk('u1', 'a', '2024-01-01T00:00:01Z'), mk('u2', 'b', '2024-01-01T00:00:02Z', 64)];
  const q = (s: string) => {
    const r = parseListQuery(Object.fromEntries(new URLSearchParams(s)));
    if (!r.ok) throw r.error;
    return r.value;
  };

  it('orders by [sort_key, id] and pages strictly after the marker', () => {
    expect(pageContainers(items, q(''), null).map((s) => s.uuid)).toEqual(['u1', 'u2', 'u3']);
    expect(pageContainers(items, q('sort_key=name&sort_dir=desc'), null).map((s) => s.uuid)).toEqual(['u3', 'u2', 'u1']);
    const marker = items.find((s) => s.uuid === 'u2')!;
    expect(pageContainers(items, q('sort_key=name&sort_dir=desc'), marker).map((s) => s.uuid)).toEqual(['u1']);
    expect(pageContainers(items, q('sort_key=name'), marker).map((s) => s.uuid)).toEqual(['u3']);
  });

  it('sorts memory as text, as Zun\'s string column does', () => {
    expect(pageContainers(items, q('sort_key=memory'), null).map((s) => s.uuid)).toEqual(['u3', 'u1', 'u2']);
  });

  it('the comparator is a total order', () => {
    const cmp = comparator({ sortKey: 'name', sortDir: 'asc' });
    expect(cmp(items[0]!, items[0]!)).toBe(0);
    expect(Math.sign(cmp(items[0]!, items[2]!))).toBe(-Math.sign(cmp(items[2]!, items[0]!)));
  });
});
