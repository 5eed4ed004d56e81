// Bindings that only the test configuration (vitest.config.ts) provides.
declare namespace Cloudflare {
  interface Env {
    TEST_SIGNING_KEY: string;
    TEST_OTHER_SIGNING_KEY: string;
  }
}
