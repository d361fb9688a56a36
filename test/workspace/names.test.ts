import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEntryName, isSafeEntryName, DEFAULT_UNPACK_LIMITS, WorkspaceError } from '../../src/workspace/index.ts';

const check = (name: string) => checkEntryName(name, DEFAULT_UNPACK_LIMITS);
const code = (name: string) => {
  try {
    check(name);
    return 'OK';
  } catch (err) {
    assert.ok(err instanceof WorkspaceError);
    return err.code;
  }
};

test('names are normalised: leading ./ and trailing / dropped', () => {
  assert.equal(check('./Content/a.pdf'), 'Content/a.pdf');
  assert.equal(check('Content/sub/'), 'Content/sub');
  assert.equal(check('été/ü ñ.txt'), 'été/ü ñ.txt');
  assert.equal(check('..foo/bar..'), '..foo/bar..', '".." inside a segment is a name, not a parent');
});

test('unsafe names', () => {
  for (const name of ['', '/', '/abs', 'C:/x', 'c:x', 'a/../b', '..', 'a\\b', 'a/./b', 'a//b', 'a\u0000b', 'a\u001fb', 'a\u007fb', 'a\u0085b', './']) {
    assert.equal(code(name), 'UNSAFE_NAME', JSON.stringify(name));
    assert.equal(isSafeEntryName(name, DEFAULT_UNPACK_LIMITS), false);
  }
});

test('length and depth limits', () => {
  assert.equal(code('a'.repeat(255)), 'OK');
  assert.equal(code('a'.repeat(256)), 'NAME_TOO_LONG');
  assert.equal(code('é'.repeat(128)), 'NAME_TOO_LONG', 'bytes, not characters');
  assert.equal(code(`${'d/'.repeat(31)}f`), 'OK');
  assert.equal(code(`${'d/'.repeat(32)}f`), 'TOO_DEEP');
  assert.equal(code(`${'abcdefgh/'.repeat(120)}f`), 'NAME_TOO_LONG');
});
