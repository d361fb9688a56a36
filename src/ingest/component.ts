import type { Component } from '../platform/context.ts';

/** The ingest's part of `coffre serve`. */
export const ingestComponent: Component = { name: 'ingest' };
