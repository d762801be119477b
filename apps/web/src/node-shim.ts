// INTERIM: stands in for Node built-ins the packages import until they are browser-clean.
const missing = (): never => {
  throw new Error('Not available in the browser.');
};
export const createHash = missing, randomBytes = missing, mkdir = missing, readFile = missing, rename = missing, rm = missing, writeFile = missing;
export const homedir = missing, dirname = missing, join = missing, existsSync = missing, fileURLToPath = missing;
export const Worker = class {};
export const parentPort = null;
export default {};
