/**
 * What the body thread does, as plain JavaScript in a string: the same source runs inside the
 * worker thread (gateway.hashWorker, the default) and, evaluated in this process, on the event
 * loop (hashWorker: false). A string runs the same under tsx, in a bundle and in tests, with no
 * loader to set up and no file to ship beside the bundle.
 *
 * The executor takes batches of operations, in order, and answers each batch with one list of
 * replies:
 *   init    {key, algorithm}             a running digest
 *   copy    {from, to}                   an independent copy (to roll back a discarded chunk)
 *   extend  {key, path, end, most}       feed the digest the file's bytes up to `end`, reading at
 *                                        most `most` bytes this time -> {op: 'extended', key, length, error}
 *   digest  {key}                        -> {op: 'digest', key, value, length, error}; forgets it
 *   drop    {key}                        forgets a digest
 *   open    {session, path, position, digests}   a body being written at `position`
 *   write   {session, buffers}           -> {op: 'written', session, bytes, error}
 *   close   {session}                    -> {op: 'closed', session, error}
 * A write lands in the file with one writev, then feeds every digest of its session, so a digest
 * only ever covers bytes that are in the file. After an error a session ignores its later writes.
 */
export const BODY_EXECUTOR_SOURCE = String.raw`(function bodyExecutor(require, options) {
  const fs = require('node:fs');
  const { createHash } = require('node:crypto');
  const digests = new Map();
  const sessions = new Map();
  let readBuffer;
  let sinceCollect = 0;

  const message = (err) => String((err && err.message) || err);
  const view = (b) => (b instanceof Uint8Array ? b : new Uint8Array(b));

  function extend(d, path, end, most) {
    if (d.error || end <= d.length) return;
    readBuffer = readBuffer || Buffer.allocUnsafe(1 << 20);
    const stop = Math.min(end, d.length + (most || Infinity));
    let fd;
    try {
      fd = fs.openSync(path, 'r');
      while (d.length < stop) {
        const n = fs.readSync(fd, readBuffer, 0, Math.min(readBuffer.length, stop - d.length), d.length);
        if (n <= 0) throw new Error(path + ' ends at ' + d.length + ', before ' + end);
        d.hash.update(readBuffer.subarray(0, n));
        d.length += n;
      }
    } catch (err) {
      d.error = message(err);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  /** Writes all the views at the session's position (a short write writes the rest). */
  function write(s, views) {
    let total = 0;
    for (const v of views) total += v.length;
    let done = 0;
    let rest = views;
    while (done < total) {
      const n = fs.writevSync(s.fd, rest, s.position + done);
      if (n <= 0) throw new Error('the file accepted no bytes');
      done += n;
      if (done < total) {
        // Rare: drop what was written from the front of the list.
        let skip = n;
        const left = [];
        for (const v of rest) {
          if (skip >= v.length) skip -= v.length;
          else { left.push(skip > 0 ? v.subarray(skip) : v); skip = 0; }
        }
        rest = left;
      }
    }
    return total;
  }

  function handle(batch) {
    const replies = [];
    for (const op of batch) {
      if (op.op === 'write') {
        const s = sessions.get(op.session);
        const views = op.buffers.map(view);
        let bytes = 0;
        if (!s.error) {
          try {
            bytes = write(s, views);
            s.position += bytes;
            for (const d of s.digests) for (const v of views) { d.hash.update(v); d.length += v.length; }
          } catch (err) {
            s.error = message(err);
          }
        }
        sinceCollect += bytes;
        replies.push({ op: 'written', session: op.session, bytes, error: s.error });
      } else if (op.op === 'open') {
        const s = { fd: undefined, position: op.position, digests: op.digests.map((k) => digests.get(k)) };
        try {
          if (s.digests.some((d) => !d)) throw new Error('a digest of this body is unknown');
          s.fd = fs.openSync(op.path, 'r+');
        } catch (err) {
          s.error = message(err);
        }
        sessions.set(op.session, s);
      } else if (op.op === 'close') {
        const s = sessions.get(op.session);
        sessions.delete(op.session);
        try {
          if (s.fd !== undefined) fs.closeSync(s.fd);
        } catch (err) {
          s.error = s.error || message(err);
        }
        replies.push({ op: 'closed', session: op.session, error: s.error });
      } else if (op.op === 'init') {
        digests.set(op.key, { hash: createHash(op.algorithm), length: 0 });
      } else if (op.op === 'copy') {
        const d = digests.get(op.from);
        if (d) digests.set(op.to, { hash: d.hash.copy(), length: d.length, error: d.error });
      } else if (op.op === 'extend') {
        const d = digests.get(op.key);
        if (d) extend(d, op.path, op.end, op.most);
        replies.push({ op: 'extended', key: op.key, length: d ? d.length : 0, error: d ? d.error : 'unknown digest' });
      } else if (op.op === 'digest') {
        const d = digests.get(op.key);
        digests.delete(op.key);
        const ok = d && !d.error;
        replies.push({ op: 'digest', key: op.key, value: ok ? d.hash.digest() : null, length: d ? d.length : 0, error: d ? d.error : 'unknown digest' });
      } else if (op.op === 'drop') {
        digests.delete(op.key);
      }
    }
    // Written buffers are garbage now. In the worker they were transferred here, and the young
    // generation fills too slowly to collect them before V8's external-memory slack (64 MB) is
    // used up: a minor collection every few MiB keeps them from piling up.
    if (options.collectGarbage && sinceCollect >= options.collectEvery) {
      sinceCollect = 0;
      options.collectGarbage({ type: 'minor' });
    }
    return replies;
  }

  return { handle };
})`;
