// Injected into the CommonJS bundles: ESM dependencies that read import.meta.url get this file's URL.
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
