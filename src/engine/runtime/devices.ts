/**
 * Execution-provider choice. onnxruntime-node bundles the CPU and WebGPU providers; CUDA needs
 * binaries that its install script downloads (skipped offline), DirectML exists on Windows builds
 * and CoreML on macOS builds. A request for an unavailable provider falls back to CPU with a note
 * that says why, and the provider actually used is reported with every result.
 */
import type { DeviceRequest } from './types.js';

export interface DeviceChoice {
  /** Providers to try, in order. */
  providers: string[];
  /** Why the request could not be honoured as asked, if so. */
  note: string | null;
}

interface BackendInfo {
  name: string;
  bundled: boolean;
}

export function chooseDevice(request: DeviceRequest, backends: readonly BackendInfo[], platform: NodeJS.Platform = process.platform): DeviceChoice {
  const has = (name: string): boolean => backends.some((b) => b.name === name);
  const cudaReady = (): boolean => backends.some((b) => b.name === 'cuda' && b.bundled);
  if (request === 'cpu') return { providers: ['cpu'], note: null };
  if (request === 'auto') {
    if (cudaReady()) return { providers: ['cuda', 'cpu'], note: null };
    if (platform === 'darwin' && has('coreml')) return { providers: ['coreml', 'cpu'], note: null };
    if (platform === 'win32' && has('dml')) return { providers: ['dml', 'cpu'], note: null };
    return { providers: ['cpu'], note: null };
  }
  if (request === 'cuda' && !cudaReady()) {
    return {
      providers: ['cpu'],
      note: 'CUDA was requested, but onnxruntime-node was installed without its CUDA binaries (they are downloaded by its install script); using the CPU.',
    };
  }
  if (!has(request)) {
    return { providers: ['cpu'], note: `The ${request} execution provider is not available in this build of onnxruntime-node on ${platform}; using the CPU.` };
  }
  return { providers: [request, 'cpu'], note: null };
}
