#!/usr/bin/env node
// Runs one benchmark: npm run bench -- <name> [args]  (bench/<name>.ts)
import { existsSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';

const [name, ...args] = process.argv.slice(2);
const available = readdirSync('bench').filter((f) => f.endsWith('.ts') && !f.startsWith('_')).map((f) => f.slice(0, -3));
if (!name || !existsSync(`bench/${name}.ts`)) {
  console.error(`usage: npm run bench -- <name>   (one of: ${available.join(', ') || 'none yet'})`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${name}.ts`, ...args], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 1));
