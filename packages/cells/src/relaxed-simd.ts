// `import '@rnnkit/cells/relaxed-simd'`, first in an app's entry: relaxed SIMD on where the engine
// has it (see enableRelaxedSimd). A side-effect entry so that it is one line and runs before the rest.
import { enableRelaxedSimd } from './simd-support.js';

/** Whether relaxed SIMD is on after this entry ran. */
export const relaxedSimd: boolean = enableRelaxedSimd();
export { enableRelaxedSimd, hasRelaxedSimd } from './simd-support.js';
