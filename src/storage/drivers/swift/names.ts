import { checkContainer, checkId } from '../remote-names.ts';

export { checkContainer, checkId };

/** Swift object paths in URLs: each segment encoded, the slashes kept (names are checked in ../remote-names.ts). */
export const encodePath = (name: string) => name.split('/').map(encodeURIComponent).join('/');
