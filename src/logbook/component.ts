import type { Component } from '../platform/context.ts';

/** The logbook's part of `coffre serve`. */
export const logbookComponent: Component = { name: 'logbook' };
