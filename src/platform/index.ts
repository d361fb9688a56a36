export { startPlatform, openContext, type RunningPlatform } from './platform.ts';
export type { Component, PlatformContext } from './context.ts';
export { UserError, errorBody } from './errors.ts';
export { writeFileAtomic, writeFileAtomicSync, fsyncDir, fsyncDirSync } from './files.ts';
