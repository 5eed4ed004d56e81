/**
 * The bundled default model: trained by `npm run build:default-model` on the UCI Online Retail
 * data into default-model/, turned into Worker modules by the build step (scripts/build.ts →
 * build/bundled-model.ts), so a fresh deployment or `npm run dev` serves real recommendations
 * before any origin model exists. It is trusted as code, like the rest of the bundle; origin
 * models must be signed. Every file is still checked against the manifest when it loads.
 */
import { files } from '../../build/bundled-model';
import type { ArtifactSource } from './model';

export async function bundledSource(): Promise<ArtifactSource> {
  return {
    kind: 'bundled',
    async get(file) {
      const data = files[file];
      // hand out a copy: typed-array views over module data must not alias across loads
      return data ? data.slice(0) : null;
    },
  };
}
