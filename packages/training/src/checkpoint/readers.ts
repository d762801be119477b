// Reading files: a folder (Node), a URL (fetch) or browser File objects.
import * as tf from '@tensorflow/tfjs-core';
import { CHECKPOINT_FORMAT, CheckpointError, corrupt, type CheckpointFileReader, type Spec } from './format.js';
import { checkSpecs } from './validation.js';

export function urlReader(base: string): CheckpointFileReader {
  const resolve = (file: string) => new URL(file, base).href;
  return {
    describe: resolve,
    async read(file) {
      const url = resolve(file);
      let response: Response;
      try {
        response = await fetch(url);
      } catch (err) {
        throw new CheckpointError(url, `${url} is unreadable: the request failed (${(err as Error).message}).`);
      }
      if (response.status === 404) return undefined;
      if (!response.ok) throw new CheckpointError(url, `${url} is unreadable: HTTP ${response.status} ${response.statusText}.`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

export function filesReader(files: ArrayLike<File>): { reader: CheckpointFileReader; modelJson: string } {
  const byName = new Map(Array.from(files, (f) => [f.name, f] as const));
  const jsons = [...byName.keys()].filter((n) => n.endsWith('.json') && !n.endsWith('optimizer.json'));
  if (jsons.length !== 1) {
    throw new CheckpointError(
      'the selected files',
      `Pick one model .json file and its weight file(s) (got ${jsons.length ? jsons.join(', ') : 'no .json file'}).`,
    );
  }
  return {
    modelJson: jsons[0] as string,
    reader: {
      describe: (file) => file,
      missing: (file) =>
        new CheckpointError(
          file,
          `${file} was not among the chosen files: choose ${jsons[0]} and ${file} together (and optimizer.json with optimizer.bin, to go on training).`,
          'missing',
        ),
      async read(file) {
        const f = byName.get(file);
        if (!f) return undefined;
        try {
          return new Uint8Array(await f.arrayBuffer());
        } catch (err) {
          throw new CheckpointError(file, `${file} is unreadable (${(err as Error).message}).`);
        }
      },
    },
  };
}

// A manifest may only name files beside it: no folders, no '..', no URLs, no absolute paths.
const SAFE_PATH = /^(?:\.\/)?([^/\\:]+)$/;

/** Reads `<json>` and the weight files its manifest names, as ModelArtifacts (validated). */
export async function readArtifacts(
  reader: CheckpointFileReader,
  jsonFile: string,
): Promise<{ artifacts: tf.io.ModelArtifacts; weightsFile: string } | undefined> {
  const jsonName = reader.describe(jsonFile);
  const bytes = await reader.read(jsonFile);
  if (!bytes) return undefined;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch {
    throw corrupt(jsonName, 'is not valid JSON.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw corrupt(jsonName, 'is not a JSON object.');
  if (json.format !== CHECKPOINT_FORMAT)
    throw corrupt(jsonName, `is not an rnnkit checkpoint (its format is ${JSON.stringify(json.format ?? null)}, not "${CHECKPOINT_FORMAT}").`);
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest) || manifest.length === 0) throw corrupt(jsonName, 'is not an rnnkit checkpoint (no weightsManifest).');
  const specs: Spec[] = [];
  const paths: string[] = [];
  for (const group of manifest as unknown[]) {
    const g = group as { paths?: unknown; weights?: unknown } | null;
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw corrupt(jsonName, 'has a weightsManifest entry without paths and weights.');
    for (const p of g.paths as unknown[]) {
      const m = typeof p === 'string' ? SAFE_PATH.exec(p) : null;
      if (!m || m[1] === '.' || m[1] === '..') throw corrupt(jsonName, `names the weight file ${JSON.stringify(p)}, which is not a file beside it.`);
      paths.push(m[1] as string);
    }
    specs.push(...(g.weights as Spec[]));
  }
  checkSpecs(specs, jsonName);
  const weightsFile = paths[0] ?? '';
  const chunks: Uint8Array[] = [];
  for (const p of paths) {
    const chunk = await reader.read(p);
    if (!chunk) throw reader.missing?.(p) ?? corrupt(reader.describe(p), 'is missing.');
    chunks.push(chunk);
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const data = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.byteLength;
  }
  const artifacts: tf.io.ModelArtifacts = {
    format: json.format as string,
    weightSpecs: specs,
    weightData: data.buffer,
    userDefinedMetadata: json.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata'],
  };
  return { artifacts, weightsFile: reader.describe(weightsFile) };
}

export function loadHandler(url: string): tf.io.IOHandler {
  const handlers = tf.io.getLoadHandlers(url);
  if (handlers.length === 0)
    throw new CheckpointError(
      url,
      `No checkpoint at ${url}: nothing here loads that kind of URL (use indexeddb://, localstorage://, http(s):// or, in Node, a folder).`,
    );
  return handlers[0] as tf.io.IOHandler;
}

export async function loadArtifacts(handler: tf.io.IOHandler, label: string): Promise<tf.io.ModelArtifacts> {
  if (!handler.load) throw new CheckpointError(label, `${label} cannot be loaded from (its IO handler has no load method).`);
  try {
    return await handler.load();
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(label, `No checkpoint at ${label}: ${(err as Error).message}`);
  }
}
