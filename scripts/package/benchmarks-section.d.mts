/** Replaces (or appends) the "## heading" section of a markdown file, keeping every other section. */
export function writeBenchmarksSection(file: string, heading: string, body: string): void;
