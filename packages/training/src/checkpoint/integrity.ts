// Checksums: SHA-256 through Web Crypto (crypto.subtle), in Node 20+ and every browser.
import type * as tf from '@tensorflow/tfjs-core';
import { corrupt, type Spec } from './format.js';

export async function sha256(bytes: Uint8Array | ArrayBuffer): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('Checkpoints need Web Crypto (crypto.subtle): Node 20+, or a browser page served over https or localhost.');
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The checksum of what model.json says: rnnkit's metadata (minus the checksums) and the weights'
 * names, shapes and types, so an edited vocabulary or a renamed weight is caught like a flipped byte.
 */
export function manifestDigest(meta: Record<string, unknown>, specs: Spec[]): Promise<string> {
  return sha256(new TextEncoder().encode(manifestText(meta, specs)));
}

/** What `manifestDigest` hashes: the metadata without its checksums, and the weight specs. */
export function manifestText(meta: Record<string, unknown>, specs: readonly Spec[]): string {
  const { integrity: _, ...rest } = meta;
  const weights = specs.map(({ name, shape, dtype }) => ({ name, shape, dtype }));
  return JSON.stringify({ rnnkit: rest, weights });
}

export interface Integrity {
  algorithm: 'SHA-256';
  /** Of the weight bytes (weights.bin). */
  weights: string;
  /** Of the metadata and weight specs (see manifestDigest). */
  manifest: string;
}

export async function withIntegrity(meta: Record<string, unknown>, specs: Spec[], data: ArrayBuffer): Promise<Record<string, unknown>> {
  const integrity: Integrity = { algorithm: 'SHA-256', weights: await sha256(data), manifest: await manifestDigest(meta, specs) };
  return { ...meta, integrity };
}

export type Meta = Record<string, unknown> & { integrity?: Integrity };

/**
 * Checks the recorded SHA-256 checksums: of the metadata with the weight list (every byte of
 * model.json that means something) and of the weight bytes (every weight file, in manifest order).
 */
export async function checkIntegrity(art: tf.io.ModelArtifacts, meta: Meta, data: ArrayBuffer, files: { json: string; weights: string }): Promise<void> {
  const integrity = meta.integrity;
  if (integrity?.algorithm !== 'SHA-256' || typeof integrity.weights !== 'string' || typeof integrity.manifest !== 'string') {
    throw corrupt(files.json, 'has no SHA-256 checksums (userDefinedMetadata.rnnkit.integrity).');
  }
  if ((await manifestDigest(meta, art.weightSpecs ?? [])) !== integrity.manifest) {
    throw corrupt(files.json, 'does not match its recorded checksum: its metadata or weight list was changed or damaged.');
  }
  if ((await sha256(data)) !== integrity.weights)
    throw corrupt(files.weights, 'does not match the SHA-256 checksum recorded in its model.json: the weights are damaged.');
}

export const integrityOf = (a: tf.io.ModelArtifacts) => (a.userDefinedMetadata as { rnnkit: { integrity: Integrity } }).rnnkit.integrity;
