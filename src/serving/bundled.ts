/**
 * The bundled default model: trained by `npm run build:default-model` on the UCI Online Retail
 * data and shipped inside the Worker (files imported as Data modules), so a fresh deployment or
 * `npm run dev` serves real recommendations before any origin model exists.
 * It is trusted as code, like the rest of the bundle; origin models must be signed.
 */
import { files } from '../../model/default/files';
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
