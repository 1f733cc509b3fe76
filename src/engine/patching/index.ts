/** Activation patching: the engine's sweep entry point and what its callers need. */
export { runPatchSweep, type PatchSweepOptions } from './run-patch-sweep.js';
export { runNaivePatchSweep } from './naive-sweep.js';
export { RECOVERY_MIN_DENOMINATOR } from './patch-metric.js';
export { patchSites, PATCH_HOOKS, type PatchHook, type PatchSite } from './patch-sites.js';
export {
  runPathPatching,
  type PathPatchEntry,
  type PathPatchOptions,
  type PathPatchProgress,
  type PathPatchRequest,
  type PathPatchResult,
} from './path-patching.js';
export { parseReceivers, type PathReceivers, type ReceiverHead } from './path-receivers.js';
