/**
 * The repository's layering, checked in CI (`npm run lint`):
 * - core/ is the shared, runtime-neutral package: it imports nothing of the repo but itself,
 *   its declared npm dependencies, and no Node or Workers module.
 * - The Worker (src/) and the trainer (model/) share code only through core/.
 * - Inside src/, layers point down: routes and pages → services → models → storage and
 *   inference → core. schemas, errors and config are leaves any layer may use; context, app,
 *   index and scheduled compose everything and nothing below imports them (routes and pages take
 *   the request context's type and middleware from context).
 * - bench/ never imports test/; shared dev tooling lives in scripts/.
 */
const src = (dir) => `^src/${dir}/`;

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'core-is-self-contained',
      comment: 'core/ may import only core/ and its declared npm dependencies (zod, simple-statistics)',
      severity: 'error',
      from: { path: '^core/' },
      to: { pathNot: ['^core/', '^node_modules/(zod|simple-statistics)/'] },
    },
    { name: 'core-is-runtime-neutral', severity: 'error', from: { path: '^core/' }, to: { dependencyTypes: ['core'] } },
    { name: 'worker-does-not-import-trainer', severity: 'error', from: { path: '^src/' }, to: { path: '^(model|bench|test|scripts)/' } },
    { name: 'trainer-does-not-import-worker', severity: 'error', from: { path: '^model/' }, to: { path: '^(src|bench|test)/' } },
    { name: 'bench-does-not-import-tests', severity: 'error', from: { path: '^bench/' }, to: { path: '^test/' } },
    {
      name: 'leaves-stay-leaves',
      comment: 'schemas, errors and config depend on nothing else in src/',
      severity: 'error',
      from: { path: '^src/(schemas|errors|config)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(schemas|errors|config)\\.ts$' },
    },
    {
      name: 'inference-only-uses-core',
      severity: 'error',
      from: { path: src('inference') },
      to: { path: '^src/', pathNot: [src('inference'), '^src/(errors|modules)\\.ts$'] },
    },
    {
      name: 'storage-does-not-reach-up',
      severity: 'error',
      from: { path: src('storage') },
      to: { path: [src('models'), src('services'), src('routes'), src('pages'), '^src/(context|app|index|scheduled)\\.tsx?$'] },
    },
    {
      name: 'models-do-not-reach-up',
      severity: 'error',
      from: { path: src('models') },
      to: { path: [src('services'), src('routes'), src('pages'), '^src/(context|app|index|scheduled)\\.tsx?$'] },
    },
    {
      name: 'services-do-not-reach-up',
      severity: 'error',
      from: { path: src('services') },
      to: { path: [src('routes'), src('pages'), '^src/(context|app|index|scheduled)\\.tsx?$'] },
    },
    {
      name: 'routes-go-through-services',
      comment:
        "HTTP handlers call services; storage, inference and model loading are services' business (the request context hands routes their dependencies)",
      severity: 'error',
      from: { path: [src('routes'), src('pages')] },
      to: { path: [src('storage'), src('inference'), src('models'), '^src/(app|index|scheduled)\\.tsx?$'] },
    },
  ],
  options: {
    // npm packages stay in the graph (not followed), so core-is-self-contained sees them
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(build|default-model)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'test/tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.js', '.mjs'],
    },
  },
};
