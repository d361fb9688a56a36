export { GroupIndexing as default } from './indexing.ts';
