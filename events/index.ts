export * from './envelope.js';
export * from './subjects.js';
export * from './container.js';
export * from './capsule.js';
export * from './codec.js';
export * from './placement.js';
