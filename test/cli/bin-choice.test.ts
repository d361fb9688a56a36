import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The real bin/coffre.js in a folder of its own, with a src/ and a dist/ whose main() only says
 * which one ran: dist/ when it is newer than every file in src/, the sources otherwise.
 */
test('bin/coffre.js runs dist/ only when it is newer than every file in src/ (else the sources, through tsx)', () => {
  const root = mkdtempSync(join(tmpdir(), 'coffre-bin-'));
  try {
    mkdirSync(join(root, 'bin'));
    copyFileSync(resolve('bin/coffre.js'), join(root, 'bin', 'coffre.js'));
    symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
    writeFileSync(join(root, 'package.json'), '{"type": "module"}\n');
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    const src = join(root, 'src', 'cli', 'main.ts');
    const dist = join(root, 'dist', 'cli', 'main.js');
    writeFileSync(src, "export async function main(): Promise<void> { console.log('src'); }\n");
    writeFileSync(dist, "export async function main() { console.log('dist'); }\n");
    const ran = (env: NodeJS.ProcessEnv = {}) =>
      execFileSync(process.execPath, [join(root, 'bin', 'coffre.js')], { encoding: 'utf8', env: { ...process.env, COFFRE_FROM_SOURCE: '', ...env } }).trim();
    const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);

    at(src, 1_000_000);
    at(dist, 2_000_000);
    assert.equal(ran(), 'dist');
    assert.equal(ran({ COFFRE_FROM_SOURCE: '1' }), 'src');
    at(src, 3_000_000); // an edit after the build
    assert.equal(ran(), 'src');
    rmSync(join(root, 'dist'), { recursive: true });
    assert.equal(ran(), 'src');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
