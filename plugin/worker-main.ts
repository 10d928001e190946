// Entry point the primary forks for an app file. Everything happens in the runtime.
import { runAppFileWorker } from './worker-runtime.js'

void runAppFileWorker()
