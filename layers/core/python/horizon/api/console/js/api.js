// The REST client: every path is relative to the API root. Served by the API that is the
// parent of /console/, so the same files work at http://127.0.0.1:8000/console/ and behind a
// stage (/prod/console/); the copy on CloudFront is on another host, and its config.json
// names the API (`api_url`).
import { getKey } from "./session.js";

let apiRoot = new URL("../", location.href);

/** Take the API root from the console's config (call before the first `api()`). */
export function configureApi(config) {
  if (!config.api_url) return;
  // A base without its trailing slash would drop the stage: new URL("api/v1", ".../prod").
  apiRoot = new URL(config.api_url.endsWith("/") ? config.api_url : `${config.api_url}/`);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(status ? `${status}: ${detail}` : detail);
    this.status = status;
    this.detail = detail;
  }
}

function detailOf(body) {
  if (body && typeof body === "object" && "detail" in body) {
    const { detail } = body;
    // FastAPI's validation errors are a list of {loc, msg}.
    return Array.isArray(detail) ? detail.map((item) => item.msg || JSON.stringify(item)).join("; ") : String(detail);
  }
  return typeof body === "string" && body ? body : "request failed";
}

/**
 * Call the API. `json` is sent as a JSON body, `form` as multipart.
 * Returns the parsed answer; throws ApiError on a non-2xx answer or no connection.
 */
export async function api(path, { method = "GET", json, form, key = getKey() } = {}) {
  const headers = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(new URL(path, apiRoot), { method, headers, body });
  } catch (error) {
    throw new ApiError(0, `cannot reach the API (${error.message})`);
  }
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: keep the text for the message.
  }
  if (!response.ok) throw new ApiError(response.status, detailOf(parsed));
  return parsed;
}

/** The console's own settings (`config.json`): where the REST and WebSocket APIs are. */
export async function loadConfig() {
  try {
    const response = await fetch(new URL("config.json", location.href));
    return response.ok ? await response.json() : {};
  } catch {
    return {};
  }
}
