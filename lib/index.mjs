// ESM entry: re-exports the CommonJS build, so `import` and `require()` share one instance of the package.
import cjs from './index.js'

export const {
  start, fastifyCluster, clusterPlugin, resolveOptions, DEFAULTS, ClusterEvents, MessageTypes,
  PROTOCOL_NAMESPACE, PROTOCOL_VERSION, errorCodes
} = cjs
export default cjs.default
