import { uploadFiles } from '../gateway/client/upload.ts';

/** What `coffre ingest --json` prints for each package. */
export interface IngestSummary {
  operationId: string;
  status: string;
  steps: Array<{ name: string; status: string; items?: number }>;
  package?: string;
  report?: unknown;
}

export class IngestClientError extends Error {
  override name = 'IngestClientError';
}

/** The server base (http://host:port) from a URL that may name the tus endpoint (…/files/). */
export function serverBase(url: string): string {
  const u = new URL(url);
  u.pathname = u.pathname.replace(/\/files\/?$/, '/').replace(/\/+$/, '');
  u.search = '';
  return u.toString().replace(/\/+$/, '');
}

async function getJson(url: string, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = { message: text };
  }
  return { status: res.status, body };
}

/**
 * Uploads a package through the gateway's tus endpoint with `ingest=true` and returns the id of
 * the operation its deposit became (the server maps an upload id to its operation).
 */
export async function submitPackage(options: {
  base: string;
  token: string;
  file: string;
  strategy?: string;
  onProgress?(sent: number, total: number): void;
  operationTimeoutMs?: number;
}): Promise<string> {
  const metadata: Record<string, string> = { ingest: 'true' };
  if (options.strategy) metadata.strategy = options.strategy;
  const [result] = await uploadFiles({
    endpoint: `${options.base}/files/`,
    token: options.token,
    files: [options.file],
    private: true,
    metadata,
    parallel: 1,
    retryDelays: [0, 1000, 3000],
    onProgress: (_f, sent, total) => options.onProgress?.(sent, total),
  });
  if (result.error) throw new IngestClientError(`upload of ${options.file} failed: ${result.error.message.split('\n')[0]}`);
  if (!result.url) throw new IngestClientError(`upload of ${options.file} gave no upload URL`);
  const uploadId = decodeURIComponent(new URL(result.url).pathname.split('/').filter(Boolean).pop()!);
  const end = Date.now() + (options.operationTimeoutMs ?? 60_000);
  for (;;) {
    const r = await getJson(`${options.base}/api/v1/deposits/${encodeURIComponent(uploadId)}/operation`, options.token);
    if (r.status === 200) return r.body.operationId as string;
    if (r.status !== 404) throw new IngestClientError(`the server refused: ${r.body.code ?? r.status} ${r.body.message ?? ''}`.trim());
    if (Date.now() > end) throw new IngestClientError(`upload ${uploadId} completed but no ingest operation appeared within ${(options.operationTimeoutMs ?? 60_000) / 1000}s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The operation as the server shows it. */
export async function fetchOperation(base: string, token: string, id: string): Promise<IngestSummary & { state: string }> {
  const r = await getJson(`${base}/api/v1/operations/${encodeURIComponent(id)}`, token);
  if (r.status !== 200) throw new IngestClientError(`cannot read operation ${id}: ${r.body.code ?? r.status} ${r.body.message ?? ''}`.trim());
  return { operationId: r.body.operationId, status: r.body.status, state: r.body.state, steps: r.body.steps.map((s: any) => ({ name: s.name, status: s.status, items: s.items })), report: r.body.report };
}

/** Follows an operation until it ends; `onChange` sees every new state of the steps. */
export async function followOperation(base: string, token: string, id: string, onChange?: (op: IngestSummary) => void, pollMs = 250) {
  let last = '';
  for (;;) {
    const op = await fetchOperation(base, token, id);
    const key = JSON.stringify(op.steps) + op.status;
    if (key !== last) {
      last = key;
      onChange?.(op);
    }
    if (op.state === 'DONE') return op;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
