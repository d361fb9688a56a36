import { randomBytes } from 'node:crypto';

/**
 * RFC 3161 time-stamping of a seal root (optional: `logbook.tsaUrl`). The request is a small DER
 * structure written here (version 1, SHA-512 message imprint = the seal root, a nonce, certReq);
 * the reply's status is checked and its token kept with the seal. The token's own CMS signature is
 * left to standard tools (`openssl ts -verify`); verify checks that the token stamps this root.
 */

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
const SHA512_OID = Buffer.from('0609608648016503040203', 'hex');

export function timeStampRequest(digest: Buffer, nonce: Buffer = randomBytes(8)): Buffer {
  const algorithm = tlv(0x30, Buffer.concat([SHA512_OID, Buffer.from([0x05, 0x00])]));
  const imprint = tlv(0x30, Buffer.concat([algorithm, tlv(0x04, digest)]));
  const nonceInt = tlv(0x02, nonce[0] & 0x80 ? Buffer.concat([Buffer.from([0]), nonce]) : nonce);
  return tlv(0x30, Buffer.concat([tlv(0x02, Buffer.from([1])), imprint, nonceInt, Buffer.from([0x01, 0x01, 0xff])]));
}

/** Reads one DER element at `at`: its tag, where its body starts and ends. */
function element(buf: Buffer, at: number): { tag: number; start: number; end: number } {
  if (at + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[at];
  let len = buf[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || start + n > buf.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  if (start + len > buf.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

/** The token of a TimeStampResp, or an error naming the TSA's refusal. */
export function timeStampToken(reply: Buffer): Buffer {
  const outer = element(reply, 0);
  if (outer.tag !== 0x30) throw new Error('the time-stamping reply is not a DER sequence');
  const status = element(reply, outer.start);
  const code = element(reply, status.start);
  if (code.tag !== 0x02) throw new Error('the time-stamping reply has no status');
  const value = reply.readUIntBE(code.start, Math.min(6, code.end - code.start));
  if (value !== 0 && value !== 1) throw new Error(`the time-stamping authority refused the request (PKIStatus ${value})`);
  if (status.end >= outer.end) throw new Error('the time-stamping reply carries no token');
  const token = element(reply, status.end);
  return reply.subarray(status.end, token.end);
}

export async function requestTimeStamp(url: string, digest: Buffer, timeoutMs = 30_000): Promise<Buffer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/timestamp-query' },
    body: new Uint8Array(timeStampRequest(digest)),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`time-stamping authority ${url} answered HTTP ${res.status}`);
  return timeStampToken(Buffer.from(await res.arrayBuffer()));
}

/** Whether a token stamps this digest (its TSTInfo holds the message imprint in clear). */
export const tokenStamps = (token: Buffer, digest: Buffer): boolean => token.includes(digest);
