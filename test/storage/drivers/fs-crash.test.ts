/**
 * The fs driver after a crash: a real child process (fixtures/fs-crash-child.ts) writes with
 * checkpoints switched off and is killed with SIGKILL; the offer is then opened again, which
 * replays the write log. A power cut can lose more than SIGKILL does (every folder entry that was
 * not synced, the bytes of small objects' files), so tests also take away the whole container
 * folder, or tear files, before reopening: the worst a power cut can do to writes that no
 * checkpoint has synced yet. Objects up to 64 KiB are written inline (bytes kept in a segment
 * until a checkpoint), bigger ones and empty ones through a held temp file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { driver } from '../../../src/storage/drivers/fs/index.ts';
import { digestLinkPath, objectPaths } from '../../../src/storage/drivers/fs/layout.ts';
import { DEFAULT_LIMITS } from '../../../src/storage/config.ts';
import type { Connection } from '../../../src/storage/contract.ts';
import { tempDir } from '../../helpers/tmp.ts';

const CHILD = fileURLToPath(new URL('./fixtures/fs-crash-child.ts', import.meta.url));

interface Acked {
  id: string;
  size: number;
  digest: string;
}

/** Runs the child until `stop` says so from its output lines, then kills it with SIGKILL. */
async function runAndKill(root: string, scenario: string, stop: (line: string, acked: Acked[]) => boolean): Promise<{ acked: Acked[]; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const acked: Acked[] = [];
  const lines: string[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    lines.push(line);
    const [word, id, size, digest] = line.split(' ');
    if (word === 'ack') acked.push({ id, size: Number(size), digest });
    if (stop(line, acked)) {
      child.kill('SIGKILL');
      break;
    }
  }
  const how = await exited;
  assert.equal(how, 'SIGKILL', `the child should have been killed, it ended with ${how}: ${stderr}`);
  return { acked, lines };
}

const connect = (root: string) => driver.connect({ id: 'crash', driver: 'fs', parameters: { path: root }, limits: { ...DEFAULT_LIMITS } });

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listed(conn: Connection): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for await (const e of conn.list('objects')) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
  return seen;
}

/** Every acknowledged object is there once, with its bytes, its size and its digest link. */
async function assertAllThere(root: string, conn: Connection, acked: Acked[]): Promise<void> {
  const seen = await listed(conn);
  for (const a of acked) {
    assert.equal(seen.get(a.id), 1, `${a.id} listed once`);
    const got = await conn.get('objects', a.id);
    assert.equal(got.size, a.size, `${a.id} size`);
    assert.equal(createHash('sha256').update(await readAll(got.body)).digest('hex'), a.digest, `${a.id} bytes`);
    const paths = objectPaths(root, 'objects', a.id);
    const link = digestLinkPath(paths, 'sha256', a.digest);
    assert.ok(existsSync(link), `${a.id} digest link`);
    assert.equal(statSync(link).ino, statSync(paths.file).ino, `${a.id} digest link on the object's inode`);
    assert.equal(await conn.digest('objects', a.id, { algorithm: 'sha256' }), a.digest);
  }
}

const tmpNames = (root: string) => readdirSync(join(root, '.coffre-offer', 'tmp'));
const segmentNames = (root: string) => readdirSync(join(root, '.coffre-offer', 'inline'));
/** Whether the driver writes an object of this size inline (its bytes in a segment) rather than through a held temp file. */
const isInline = (a: Acked) => a.size > 0 && a.size <= 64 * 1024;
const logLines = (root: string) => readFileSync(join(root, '.coffre-offer', 'write-log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function writeRecords(conn: Connection): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of conn.writeLog({})) if (e.action === 'write') ids.push(e.id);
  return ids;
}

test('fs crash: puts acknowledged before any checkpoint survive SIGKILL, then a lost container folder; replaying twice changes nothing', async () => {
  const dir = tempDir('coffre-fs-crash-');
  const root = join(dir.path, 'offer');
  try {
    // Killed while puts are still in flight, once 60 have answered.
    const { acked } = await runAndKill(root, 'puts', (_line, a) => a.length >= 60);
    const held = tmpNames(root);
    const streamed = acked.filter((a) => !isInline(a)).length;
    assert.ok(held.length >= streamed, `no checkpoint ran: ${held.length} temp files held for ${streamed} acknowledged streamed puts`);
    assert.ok(acked.some(isInline) && segmentNames(root).length > 0, 'the small objects bytes wait in a segment');
    assert.ok(!logLines(root).some((l) => 'checkpoint' in l), 'no checkpoint line yet');

    // The worst a power cut can do: no folder entry of the container survived.
    rmSync(join(root, 'objects'), { recursive: true });

    let conn = await connect(root);
    try {
      await assertAllThere(root, conn, acked);
    } finally {
      await conn.close();
    }
    const names = new Set(acked.map((a) => a.id));
    assert.deepEqual(tmpNames(root).filter((n) => [...names].some((id) => n.startsWith(`objects.${id}.`))), [], 'every hold of an acknowledged put is released');
    assert.deepEqual(segmentNames(root), [], 'the segments are removed once their objects are synced');
    const logAfterFirst = logLines(root);
    assert.ok(logAfterFirst.some((l) => 'checkpoint' in l), 'the replay wrote a checkpoint line');

    // A second opening finds nothing left to do.
    conn = await connect(root);
    try {
      await assertAllThere(root, conn, acked);
      const writes = await writeRecords(conn);
      for (const id of names) assert.equal(writes.filter((w) => w === id).length, 1, `${id} written once in the log`);
    } finally {
      await conn.close();
    }
    assert.deepEqual(logLines(root).filter((l) => typeof l.sequence === 'number'), logAfterFirst.filter((l) => typeof l.sequence === 'number'), 'no record added by the second opening');
  } finally {
    dir.cleanup();
  }
});

test('fs crash: after SIGKILL alone (folders as the kernel left them), every acknowledged put is there and listed once', async () => {
  const dir = tempDir('coffre-fs-crash-');
  const root = join(dir.path, 'offer');
  try {
    const { acked } = await runAndKill(root, 'puts', (_line, a) => a.length >= 25);
    const conn = await connect(root);
    try {
      await assertAllThere(root, conn, acked);
      // A put of the same bytes is still the same object; other bytes still a conflict.
      const a = acked.find((x) => x.size > 0)!;
      const got = await readAll((await conn.get('objects', a.id)).body);
      const { Readable } = await import('node:stream');
      const again = await conn.put({ container: 'objects', id: a.id, body: Readable.from([got]), size: got.length, digestAlgorithm: 'sha256' });
      assert.deepEqual(again, { size: a.size, digest: a.digest, alreadyExisted: true });
      const other = Buffer.alloc(a.size, 7);
      await assert.rejects(conn.put({ container: 'objects', id: a.id, body: Readable.from([other]), size: other.length, digestAlgorithm: 'sha256' }), (e: Error & { code?: string }) => e.code === 'CONFLICT');
    } finally {
      await conn.close();
    }
  } finally {
    dir.cleanup();
  }
});

test('fs crash: a delete acknowledged before any checkpoint is not undone by the replay, even when the hold survived', async () => {
  const dir = tempDir('coffre-fs-crash-');
  const root = join(dir.path, 'offer');
  try {
    const { acked } = await runAndKill(root, 'deletes', (line) => line === 'ready');
    const kept = acked.filter((a) => a.id.startsWith('keep-') || a.id.startsWith('small-'));
    assert.deepEqual(kept.map((a) => a.id), ['keep-1', 'keep-2', 'small-1', 'keep-3']);
    assert.ok(tmpNames(root).some((n) => n.startsWith('objects.gone-2.')), 'the hold of gone-2 is there, as a lost unlink would leave it');
    rmSync(join(root, 'objects'), { recursive: true }); // and the folders are lost too
    for (let opening = 1; opening <= 2; opening++) {
      const conn = await connect(root);
      try {
        await assertAllThere(root, conn, kept);
        for (const id of ['gone-1', 'gone-2', 'gone-3']) {
          assert.equal(await conn.exists('objects', id), false, `${id} stays deleted (opening ${opening})`);
          await assert.rejects(conn.get('objects', id), (e: Error & { code?: string }) => e.code === 'NOT_FOUND');
        }
        assert.deepEqual([...(await listed(conn)).keys()].sort(), ['keep-1', 'keep-2', 'keep-3', 'small-1']);
      } finally {
        await conn.close();
      }
      assert.deepEqual(tmpNames(root), [], `nothing held after opening ${opening}`);
    }
  } finally {
    dir.cleanup();
  }
});

test('fs crash: the replay links a held file only if it holds what its record says, and never replaces a name', async () => {
  const dir = tempDir('coffre-fs-crash-');
  const root = join(dir.path, 'offer');
  try {
    const { acked } = await runAndKill(root, 'puts', (_line, a) => a.length >= 20);
    const [torn, taken, ...rest] = acked.filter((a) => a.size > 64 * 1024);
    // The record of `torn` reached the disk but not its bytes (they are synced at the same time).
    const tmp = join(root, '.coffre-offer', 'tmp');
    const holdOf = (id: string) => join(tmp, tmpNames(root).find((n) => n.startsWith(`objects.${id}.`))!);
    writeFileSync(holdOf(torn.id), Buffer.alloc(torn.size)); // same size, other bytes
    rmSync(join(root, 'objects'), { recursive: true });
    // Something else has `taken`'s name by the time the replay runs.
    const takenPaths = objectPaths(root, 'objects', taken.id);
    mkdirSync(takenPaths.dir, { recursive: true });
    writeFileSync(takenPaths.file, 'not the held file');
    const conn = await connect(root);
    try {
      assert.equal(await conn.exists('objects', torn.id), false, 'a held file that does not match its record is not linked');
      assert.equal(readFileSync(takenPaths.file, 'utf8'), 'not the held file', 'a name is never replaced');
      await assertAllThere(root, conn, rest);
    } finally {
      await conn.close();
    }
    assert.deepEqual(tmpNames(root).filter((n) => n.startsWith(`objects.${torn.id}.`) || n.startsWith(`objects.${taken.id}.`)), [], 'their holds are released');
  } finally {
    dir.cleanup();
  }
});

test('fs crash: small objects are written from their segment, over a file a crash tore; one whose segment lacks its bytes is not made', async () => {
  const dir = tempDir('coffre-fs-crash-');
  const root = join(dir.path, 'offer');
  try {
    const { acked } = await runAndKill(root, 'puts', (_line, a) => a.filter(isInline).length >= 6);
    const [torn, shortened, ...rest] = acked.filter(isInline);
    const pathsOf = (id: string) => objectPaths(root, 'objects', id);
    // No checkpoint ran: no small object has a file yet. Files a crashed checkpoint left torn:
    for (const [a, bytes] of [[torn, Buffer.alloc(torn.size)], [shortened, Buffer.alloc(0)]] as const) {
      assert.equal(existsSync(pathsOf(a.id).file), false, `${a.id} has no file before a checkpoint`);
      mkdirSync(pathsOf(a.id).dir, { recursive: true });
      writeFileSync(pathsOf(a.id).file, bytes);
    }
    // A record whose bytes never reached their segment: its write never answered (the child
    // printed no ack for it). Made by hand from a real record: another id, bytes past the end.
    const lines = logLines(root);
    const model = lines.find((l) => l.id === rest[0].id && l.inline);
    assert.ok(model, 'the log record of a small object names its segment');
    const ghost = { ...model, sequence: Math.max(...lines.filter((l) => typeof l.sequence === 'number').map((l) => l.sequence)) + 1, id: 'ghost', inline: { ...model.inline, offset: 1 << 30 } };
    writeFileSync(join(root, '.coffre-offer', 'write-log.jsonl'), JSON.stringify(ghost) + '\n', { flag: 'a' });
    const conn = await connect(root);
    try {
      await assertAllThere(root, conn, [torn, shortened, ...rest]);
      assert.equal(await conn.exists('objects', 'ghost'), false, 'a record without its bytes makes no object');
    } finally {
      await conn.close();
    }
    assert.deepEqual(segmentNames(root), [], 'the segments are removed after the replay');
  } finally {
    dir.cleanup();
  }
});
