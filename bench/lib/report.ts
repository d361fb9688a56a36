import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchRow {
  case: string;
  [column: string]: string | number;
}

/** Prints a table and writes the figures as JSON under bench/results/<name>.json. */
export function report(name: string, meta: Record<string, unknown>, rows: BenchRow[]): void {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v ?? ''));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => '| ' + values.map((v, i) => v.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(columns));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(columns.map((c) => cell(r[c]))));
  mkdirSync('bench/results', { recursive: true });
  const file = join('bench/results', `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, date: new Date().toISOString(), ...meta, rows }, null, 2));
  console.log(`\nfigures written to ${file}`);
}

/** Samples a process's RSS (bytes) every `intervalMs` until stopped; returns the peak. */
export function rssSampler(readRss: () => Promise<number> | number, intervalMs = 100) {
  let peak = 0;
  const timer = setInterval(async () => {
    try {
      peak = Math.max(peak, await readRss());
    } catch {
      // process gone
    }
  }, intervalMs);
  return { stop: () => (clearInterval(timer), peak), get peak() { return peak; } };
}
