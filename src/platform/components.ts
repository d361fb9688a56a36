import type { Component } from './context.ts';
import { storageComponent } from '../storage/component.ts';
import { logbookComponent } from '../logbook/component.ts';
import { gatewayComponent } from '../gateway/component.ts';
import { ingestComponent } from '../ingest/component.ts';

/** The components of `coffre serve`, in start order (storage and journals before their users). */
export const components: Component[] = [storageComponent, logbookComponent, gatewayComponent, ingestComponent];
