// Types of the ESM entry. The named exports are the CommonJS build's; the default export is the plugin (in ESM,
// a CommonJS module's default would otherwise be typed as its whole exports object).
import type { fastifyCluster } from './index.js'

export * from './index.js'
declare const plugin: typeof fastifyCluster
export default plugin
