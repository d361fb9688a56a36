export { loadConfig, parseConfig, ConfigError, type LoadOptions } from './load.ts';
export { configSchema, type CoffreConfig, type CoffreConfigInput } from './schema.ts';
export { bytes, duration, parseBytes, parseDuration } from './units.ts';
