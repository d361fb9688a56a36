/** The timestamp format of every table: ISO-8601 UTC with milliseconds (sorts as text). */
export const nowIso = (): string => new Date().toISOString();
