// Secrets are not in wrangler.toml, so `wrangler types` cannot see them without a .dev.vars file.
// They are declared here, beside the generated Env, and set with `wrangler secret put` (deployed)
// or in .dev.vars (local; see .dev.vars.example).
declare namespace Cloudflare {
  interface Env {
    /** bearer token for /admin/* */
    ADMIN_TOKEN?: string;
    /** API key for write endpoints (events, delete user) */
    API_KEY?: string;
    /** HMAC key that turns user ids into storage keys */
    USER_ID_SECRET?: string;
    /** bearer token for the HTTPS origin (ORIGIN_URL) */
    ORIGIN_TOKEN?: string;
  }
}
