export * from './contract.ts';
export * from './engine-api.ts';
