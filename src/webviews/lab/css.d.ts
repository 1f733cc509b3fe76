/** Stylesheets imported for their side effect; esbuild bundles them into dist/webviews/lab.css. */
declare module '*.css';
