/** Options of loadDictionary: where hub files come from, and what a format's files do not say themselves. */
import type { DownloadProgress } from '../../protocol/engine.js';

export interface LoadDictionaryOptions {
  /** Hub revision (branch, tag or commit) of a hub source; `repo@revision` in the source sets it too. */
  revision?: string;
  /** Folder inside the hub repo (or the local folder) that holds the dictionary; `repo/sub/folder` in the source sets it too. */
  subfolder?: string;
  /** Hub cache folder (default as for models: HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub base URL (default HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Never use the network. */
  offline?: boolean;
  accessToken?: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** Gemma Scope's params.npz: the layer (default: `layer_N` in the path). */
  layer?: number;
  /** Gemma Scope's params.npz: the hook the encoder reads, in TransformerLens form or short (default `hook_resid_post`). */
  inputHook?: string;
  /** Gemma Scope's params.npz read as a transcoder: the hook the decoder writes (default: inputHook, an SAE). */
  outputHook?: string;
  /** SAELens's `expected_average_only_in`: the factor inputs are multiplied by (when cfg.json has no norm_scaling_factor). */
  normScalingFactor?: number;
  /** A Neuronpedia labels file to use instead of one found beside the dictionary. */
  labelsFile?: string;
  /** Decoder rows each decoder keeps after reading them (default 512). */
  decoderCacheRows?: number;
}
