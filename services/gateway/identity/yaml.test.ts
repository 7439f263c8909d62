import { describe, expect, it } from 'vitest';
import { parseYamlSubset, YamlSubsetError } from './yaml.js';

describe('the YAML subset', () => {
  it('reads mappings, sequences, `- key:` items, flow collections, scalars and comments', () => {
    const doc = parseYamlSubset(`---
# a comment
projects:
  - name: admin
  - name: "demo a"   # trailing comment
    enabled: false
users:
- name: alice
  password: scrypt$1024$8$1$abc==$def/+=
  roles:
    demo-a: [member, 'reader']
    other: {a: 1, b: [x, "y z"]}
numbers: [1, -2, 3.5, ~, null, true, False]
empty:
quoted: 'it''s'
url: http://example.com:5000/v3
`);
    expect(doc).toEqual({
      projects: [{ name: 'admin' }, { name: 'demo a', enabled: false }],
      users: [{ name: 'alice', password: 'scrypt$1024$8$1$abc==$def/+=', roles: { 'demo-a': ['member', 'reader'], other: { a: 1, b: ['x', 'y z'] } } }],
      numbers: [1, -2, 3.5, null, null, true, false],
      empty: null,
      quoted: "it's",
      url: 'http://example.com:5000/v3',
    });
  });

  it('reads nested sequences and an empty document', () => {
    expect(parseYamlSubset('- - a\n  - b\n- c\n')).toEqual([['a', 'b'], 'c']);
    expect(parseYamlSubset('# nothing\n')).toBeNull();
  });

  it.each([
    ['tabs in indentation', 'a:\n\tb: 1\n', 2],
    ['anchors', 'a: &x 1\n', 1],
    ['block scalars', 'a: |\n  text\n', 1],
    ['duplicate keys', 'a: 1\na: 2\n', 2],
    ['bad indentation', 'a: 1\n   b: 2\n', 2],
    ['two documents', 'a: 1\n---\nb: 2\n', 2],
    ['an unterminated quote', 'a: "x\n', 1],
    ['a broken flow sequence', 'a: [1, 2\n', 1],
  ])('refuses %s with the line number', (_what, src, line) => {
    let err: unknown;
    try {
      parseYamlSubset(src);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(YamlSubsetError);
    expect((err as YamlSubsetError).line).toBe(line);
  });
});
