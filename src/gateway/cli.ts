import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { CliError } from '../cli/common.ts';
import { parseBytes } from '../config/units.ts';
import { uploadFiles, type ChunkChecksum } from './client/upload.ts';
import { defaultStatePath } from './client/url-store.ts';

const CHECKSUMS: ChunkChecksum[] = ['sha256', 'sha1', 'sha512', 'md5', 'none'];

const human = (n: number) => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
};

/** The gateway's subcommands of `coffre`. */
export function registerGatewayCommands(program: Command): void {
  program
    .command('upload')
    .description('deposit files through a tus gateway: progress, resume after interruption, parallel files, checksum per chunk')
    .argument('<files...>', 'files to upload')
    .option('--private', 'deposit into your own space instead of public/')
    .option('--metadata <key=value>', 'extra upload metadata (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--url <url>', 'tus endpoint', 'http://127.0.0.1:8700/files/')
    .option('--token <jwt>', 'bearer token (see `coffre token`)')
    .option('--parallel <n>', 'files uploaded at the same time', '3')
    .option('--chunk-size <size>', 'bytes per PATCH request, each with its own checksum', '16 MiB')
    .option('--checksum <algorithm>', `checksum of each chunk (${CHECKSUMS.join(', ')})`, 'sha256')
    .option('--state <file>', 'where upload URLs are remembered for resuming', defaultStatePath())
    .option('--no-progress', 'no progress bar (one line per finished file)')
    .action(async (files: string[], opts) => {
      if (!opts.token) throw new CliError('--token is required (print one with `coffre token --space NAME`)');
      const metadata: Record<string, string> = {};
      for (const kv of opts.metadata as string[]) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new CliError(`--metadata must be key=value, got "${kv}"`);
        const key = kv.slice(0, i);
        if (/[\s,]/.test(key)) throw new CliError(`--metadata key "${key}" must not contain spaces or commas`);
        metadata[key] = kv.slice(i + 1);
      }
      const chunkSize = parseBytes(opts.chunkSize);
      if (!chunkSize) throw new CliError(`--chunk-size must be a size like 16MiB, got ${opts.chunkSize}`);
      const parallel = Number(opts.parallel);
      if (!Number.isInteger(parallel) || parallel < 1) throw new CliError(`--parallel must be a positive integer, got ${opts.parallel}`);
      if (!CHECKSUMS.includes(opts.checksum)) throw new CliError(`--checksum must be one of ${CHECKSUMS.join(', ')}`);
      try {
        new URL(opts.url);
      } catch {
        throw new CliError(`--url is not a URL: ${opts.url}`);
      }

      const showBars = opts.progress !== false && process.stderr.isTTY;
      const multibar = showBars
        ? new cliProgress.MultiBar(
            {
              format: '{file} |{bar}| {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted}',
              hideCursor: true,
              clearOnComplete: false,
              stream: process.stderr,
              etaBuffer: 50,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      const bars = new Map<string, { bar?: cliProgress.SingleBar; started: number; base: number }>();
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      let results;
      try {
        results = await uploadFiles({
          endpoint: opts.url,
          token: opts.token,
          files,
          private: Boolean(opts.private),
          metadata,
          parallel,
          chunkSize,
          checksum: opts.checksum,
          statePath: opts.state,
          signal: abort.signal,
          onStart: (file, size) => {
            const name = file.split('/').pop()!.slice(0, 30).padEnd(30);
            bars.set(file, { bar: multibar?.create(size || 1, 0, { file: name, done: human(0), size: human(size), rate: '-' }), started: Date.now(), base: -1 });
          },
          onProgress: (file, sent, total) => {
            const b = bars.get(file);
            if (!b?.bar) return;
            if (b.base < 0) b.base = sent; // bytes already there when resuming do not count in the rate
            const seconds = (Date.now() - b.started) / 1000;
            const rate = seconds > 0 ? `${human((sent - b.base) / seconds)}/s` : '-';
            b.bar.update(sent, { done: human(sent), size: human(total), rate });
          },
          onDone: (r) => {
            const b = bars.get(r.file);
            if (b?.bar && !r.error) b.bar.update(r.size || 1);
          },
        });
      } finally {
        process.off('SIGINT', onSigint);
        multibar?.stop();
      }
      let failed = 0;
      for (const r of results) {
        if (r.error) {
          failed++;
          process.stderr.write(`coffre: ${r.file}: ${r.error.message.split('\n')[0]}${r.url ? ` (resume with the same command; upload ${r.url})` : ''}\n`);
        } else {
          process.stdout.write(`${r.file} ${r.url}${r.resumed ? ' (resumed)' : ''}\n`);
        }
      }
      if (abort.signal.aborted) throw new CliError('interrupted; run the same command again to resume', 130);
      if (failed > 0) throw new CliError(`${failed} of ${results.length} file(s) failed`);
    });
}
