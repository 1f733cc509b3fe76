/**
 * The built-in model organism: a small hand-built GPT-2 whose circuits are known exactly
 * (see models/organism/README.md), generated offline into a Hugging Face folder.
 */
export { ORGANISM_DISPLAY_NAME, ORGANISM_HEADS, ORGANISM_SEED, organismHead, type OrganismHead, type OrganismHeadRole } from './organism-design.js';
export { ensureOrganism, generateOrganism, isOrganismFolder, ORGANISM_VERSION, writeOrganismFolder } from './organism-folder.js';
