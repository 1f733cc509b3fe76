/**
 * The engine's dictionary loader: a DictionarySpec (a local folder, or a Hub repository with a
 * revision and folder) through the formats' loadDictionary, with the loaded model's shape and the
 * load options' cache, endpoint and offline setting.
 */
import { loadDictionary } from './load-dictionary.js';
import type { DictionaryLoader } from './feature-tools.js';

export const loadDictionaryFromSpec: DictionaryLoader = (spec, model, options) =>
  loadDictionary(spec.kind === 'folder' ? spec.path : spec.repo, model, {
    offline: options.offline,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(spec.kind === 'hub' && spec.revision ? { revision: spec.revision } : {}),
    ...(spec.kind === 'hub' && spec.subfolder ? { subfolder: spec.subfolder } : {}),
  });
