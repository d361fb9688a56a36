export { UnitIndexing as default } from './indexing.ts';
