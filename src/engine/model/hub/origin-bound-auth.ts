/**
 * Keeps the Hub access token (HF_TOKEN) on the Hub's own origin. The Hub redirects file downloads
 * to a CDN on another origin, and @huggingface/hub then hands out the CDN's URL when it answers
 * with a CloudFront `X-Cache` header; a token sent there would leak to a third party. The rule, for
 * every request and every redirect hop: Authorization goes only where the origin (scheme, host,
 * port) is the original request's.
 */

/** Request headers that carry credentials and must not cross origins (as the Fetch standard strips them). */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'] as const;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

/** The Authorization header for a download from `url`: the token only when `url` is on the Hub's origin. */
export function authorizationFor(url: string, hubEndpoint: string, accessToken: string | undefined): Record<string, string> {
  if (!accessToken || new URL(url).origin !== new URL(hubEndpoint).origin) return {};
  return { Authorization: `Bearer ${accessToken}` };
}

/**
 * Wraps `inner` so that it follows redirects itself (whatever `inner` would do with them) and
 * drops credential headers on every hop whose origin differs from the original request's. A
 * caller that asks for `redirect: 'manual'` gets the redirect response as before. URLs come as
 * strings from the library and this engine; a Request object is passed through unchanged.
 */
export function fetchWithOriginBoundAuth(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    const first = new URL(input instanceof Request ? input.url : String(input));
    if (init?.redirect === 'manual' || init?.redirect === 'error' || input instanceof Request) return inner(input, init);
    const headers = new Headers(init?.headers);
    let method = (init?.method ?? 'GET').toUpperCase();
    let body = init?.body;
    let url = first;
    for (let hop = 0; ; hop++) {
      const hopHeaders = new Headers(headers);
      if (url.origin !== first.origin) for (const name of CREDENTIAL_HEADERS) hopHeaders.delete(name);
      const response = await inner(url.href, { ...init, method, headers: hopHeaders, ...(body === undefined ? {} : { body }), redirect: 'manual' });
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
      if (hop >= MAX_REDIRECTS) {
        await response.body?.cancel();
        throw new TypeError(`fetch failed: more than ${MAX_REDIRECTS} redirects from ${first.href}`);
      }
      await response.body?.cancel();
      url = new URL(location, url);
      // As fetch does: 303, and 301/302 after a POST, continue as a GET without a body.
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
        method = method === 'HEAD' ? 'HEAD' : 'GET';
        body = undefined;
        headers.delete('content-type');
        headers.delete('content-length');
      }
    }
  };
}
