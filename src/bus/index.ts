export { Bus, publish, type BusMessage, type BusHandler, type Subscription } from './bus.ts';
