export { operationRoutes, operationView, canSee, type OperationView } from './operations.ts';
