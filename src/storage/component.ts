import type { Component } from '../platform/context.ts';

/** The storage's part of `coffre serve`. */
export const storageComponent: Component = { name: 'storage' };
