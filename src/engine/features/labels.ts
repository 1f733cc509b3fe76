/**
 * Feature labels from a Neuronpedia export beside the dictionary: a JSON array (or JSON lines) of
 * explanations, each `{ modelId, layer, index, description }` as Neuronpedia's explanation exports
 * write them (`layer` is the source id such as "8-res-jb", or a number; `index` a number or its
 * string; `explanation` is accepted for `description`). Keys of Dictionary.labels are `${layer}/${feature}`.
 *
 * A label of a layer the dictionary does not have, or of a feature past its width, is BAD_CONFIG:
 * the file belongs to another dictionary.
 */
import { EngineError } from '../errors.js';
import type { DictionaryLayer } from './dictionary.js';
import { isObject } from './json-fields.js';

/** Names of a labels file beside the dictionary, in the order they are looked for. */
export const LABEL_FILE_NAMES: readonly string[] = ['neuronpedia.json', 'labels.json', 'explanations.json', 'explanations.jsonl'];

function entries(text: string, label: string): unknown[] {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('[')) return JSON.parse(trimmed) as unknown[];
    if (trimmed.startsWith('{') && !trimmed.includes('\n')) {
      const single = JSON.parse(trimmed) as unknown;
      return isObject(single) && Array.isArray(single['explanations']) ? (single['explanations'] as unknown[]) : [single];
    }
    if (trimmed.startsWith('{')) {
      try {
        const whole = JSON.parse(trimmed) as unknown;
        if (isObject(whole) && Array.isArray(whole['explanations'])) return whole['explanations'] as unknown[];
        return [whole];
      } catch {
        return trimmed
          .split(/\r?\n/)
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as unknown);
      }
    }
  } catch (error) {
    throw new EngineError('BAD_CONFIG', `${label} is not valid JSON: ${(error as Error).message}.`);
  }
  throw new EngineError('BAD_CONFIG', `${label} is not a Neuronpedia export (a JSON array of explanations).`);
}

/** The model layer a Neuronpedia `layer` names: a number, or the leading number of a source id such as "8-res-jb". */
function layerOf(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const m = /^(\d+)(?:-|$)/.exec(value.trim());
    if (m) return Number(m[1]);
  }
  return null;
}

function indexOf(value: unknown): number | null {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Parses a Neuronpedia export and checks it against the dictionary's layers. */
export function parseFeatureLabels(text: string, layers: readonly Pick<DictionaryLayer, 'layer' | 'dSae'>[], label: string): Map<string, string> {
  const byLayer = new Map(layers.map((l) => [l.layer, l.dSae]));
  const labels = new Map<string, string>();
  entries(text, label).forEach((entry, i) => {
    if (!isObject(entry)) throw new EngineError('BAD_CONFIG', `${label}: entry ${i} is not an object.`);
    const layer = layerOf(entry['layer']);
    const feature = indexOf(entry['index'] ?? entry['feature']);
    const description = entry['description'] ?? entry['explanation'];
    if (layer === null || feature === null || typeof description !== 'string') {
      throw new EngineError('BAD_CONFIG', `${label}: entry ${i} needs layer, index and description (got ${JSON.stringify(entry).slice(0, 120)}).`);
    }
    const dSae = byLayer.get(layer);
    if (dSae === undefined) {
      throw new EngineError(
        'BAD_CONFIG',
        `${label}: entry ${i} labels a feature of layer ${layer}, but the dictionary has layers ${[...byLayer.keys()].join(', ')}.`,
        'The labels file belongs to another dictionary.',
      );
    }
    if (feature >= dSae) {
      throw new EngineError(
        'BAD_CONFIG',
        `${label}: entry ${i} labels feature ${feature} of layer ${layer}, but that layer has ${dSae} features (0–${dSae - 1}).`,
        'The labels file belongs to another dictionary.',
      );
    }
    const key = `${layer}/${feature}`;
    // Several explanations of one feature: the first one stays.
    if (!labels.has(key)) labels.set(key, description);
  });
  return labels;
}
