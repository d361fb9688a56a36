import type { Component } from '../platform/context.ts';

/** The gateway's part of `coffre serve`. */
export const gatewayComponent: Component = { name: 'gateway' };
