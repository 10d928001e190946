// Types of the ESM entry: the same as the CommonJS build's.
export * from './index.js'
export { default } from './index.js'
