/**
 * The engine's dictionary loader: a DictionarySpec (a local folder, a Hub repository with a
 * revision and folder, or the organism's transcoders, generated on first use) through the formats' loadDictionary, with the loaded model's shape and the
 * load options' cache, endpoint and offline setting.
 */
import { ensureOrganismTranscoder } from '../organism/transcoder-folder.js';
import { loadDictionary } from './load-dictionary.js';
import type { DictionaryLoader } from './feature-tools.js';

export const loadDictionaryFromSpec: DictionaryLoader = async (spec, model, options) => {
  if (spec.kind === 'organism') return loadDictionary(await ensureOrganismTranscoder(spec.dir), model, { offline: true });
  return loadDictionary(spec.kind === 'folder' ? spec.path : spec.repo, model, {
    offline: options.offline,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(spec.kind === 'hub' && spec.revision ? { revision: spec.revision } : {}),
    ...(spec.kind === 'hub' && spec.subfolder ? { subfolder: spec.subfolder } : {}),
  });
};
