export * from './api.ts';
export { PluginRegistry, PluginLoadError, type LoadedPlugin } from './registry.ts';
export { parseProperties, fillMessage } from './properties.ts';
