// The typed API client: `schema.d.ts` is generated from labelbay's OpenAPI schema (`npm run gen:api`),
// `openapi-fetch` turns it into typed calls (`api.GET('/api/v1/projects/{project_id}', ...)`).
// Uploads (XHR, for progress events) and binary downloads (blobs) are the two things done by hand.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Project = Schemas['ProjectOut'];
export type Label = Schemas['LabelOut'];
export type ImageOut = Schemas['ImageOut'];
export type Annotation = Schemas['labelbay__api__schemas__AnnotationOut'];
export type Prediction = Schemas['PredictionOut'];
/** One label on an image (a model's or a person's): the server's one label type. */
export type ImageLabel = Schemas['Label'];
export type Job = Schemas['JobOut'];
export type Model = Schemas['ModelOut'];
export type Member = Schemas['MemberOut'];
export type Role = Schemas['Role'];
export type Comment = Schemas['CommentOut'];
export type Analysis = Schemas['AnalysisOut'];
export type AnalysisDetail = Schemas['AnalysisDetail'];
export type UploadResult = Schemas['UploadResult'];

const TOKEN_KEY = 'labelbay.token';

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Raised for any non-2xx answer; `message` is the API's `detail` when it gave one. */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

export function detailOf(body: unknown, fallback: string): string {
  if (body && typeof body === 'object' && 'detail' in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail))
      return detail.map((d) => (d && typeof d === 'object' && 'msg' in d ? String(d.msg) : String(d))).join('; ');
  }
  return fallback;
}

let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && getToken()) onUnauthorized();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: '' });
api.use(auth);

/** The data of an openapi-fetch answer, or an ApiError. */
export async function must<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw new ApiError(response.status, detailOf(error, `${response.status} ${response.statusText}`));
  return data as T;
}

export async function signIn(email: string, password: string): Promise<void> {
  const body = new URLSearchParams({ username: email, password, grant_type: 'password' });
  const response = await fetch('/api/v1/auth/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
  });
  const json: unknown = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, detailOf(json, 'sign-in failed'));
  setToken((json as Schemas['Token']).access_token);
}

/** GET a binary resource with the credential (an <img> can't send one) and return an object URL. */
export async function fetchBlob(url: string, signal?: AbortSignal): Promise<Blob> {
  const token = getToken();
  const response = await fetch(url, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal,
  });
  if (!response.ok) {
    const json: unknown = await response.json().catch(() => null);
    throw new ApiError(response.status, detailOf(json, `${response.status} ${response.statusText}`));
  }
  return response.blob();
}

/** Download a file the API makes (exports): fetched with the credential, saved through a link. */
export async function download(url: string, fallbackName: string): Promise<void> {
  const token = getToken();
  const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) {
    const json: unknown = await response.json().catch(() => null);
    throw new ApiError(response.status, detailOf(json, `${response.status} ${response.statusText}`));
  }
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const href = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = href;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** POST files in the multipart field `files` with XHR, which reports upload progress. */
export function uploadFiles(
  projectId: number,
  files: File[],
  onProgress: (progress: UploadProgress) => void,
): { promise: Promise<UploadResult>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<UploadResult>((resolve, reject) => {
    const form = new FormData();
    for (const file of files) form.append('files', file, file.name);
    xhr.open('POST', `/api/v1/projects/${projectId}/images`);
    const token = getToken();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.responseType = 'json';
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
    };
    xhr.onload = () => {
      const body: unknown = xhr.response;
      // 201: some stored; 422 with the same shape: every file was refused.
      if (body && typeof body === 'object' && 'rejected' in body) resolve(body as UploadResult);
      else reject(new ApiError(xhr.status, detailOf(body, `upload failed (${xhr.status})`)));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network error during upload'));
    xhr.onabort = () => reject(new ApiError(0, 'upload cancelled'));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** GET JSON from a URL built by hand (for query parameters the schema can't name, such as
 * `metadata.<key>`), typed by the caller from the generated schema. */
export async function getJson<T>(url: string): Promise<T> {
  const blob = await fetchBlob(url);
  return JSON.parse(await blob.text()) as T;
}

export type ImagePage = Schemas['ImagePage'];
